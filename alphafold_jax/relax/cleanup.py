"""PDBFixer clean-up before minimisation (the preparation step of AF2's relax, Jumper et al.
2021, Suppl. Sec. 1.8.6 "Amber relaxation").

`clean_pdb(pdb_str)` replaces non-standard residues by their standard parents, removes
heterogens and water, adds missing heavy atoms (no missing residues: the chain is what the
Protein holds) and adds hydrogens at pH 7. Existing atoms are not moved (checked). Residue and
chain ids are kept (`keepIds`), so author numbering survives the round trip.

OpenMM's Modeller drops new hydrogens at random positions (Python's `random`) before a short
minimisation, so unseeded runs differ by up to ~0.2 A in hydrogen positions; `clean_pdb` seeds
`random` with `seed` for the call and restores the caller's random state afterwards.
"""

import io
import random
from typing import Dict, Tuple

import numpy as np

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.relax.errors import RelaxError, backend

# Largest move of an input atom the clean-up may cause: PDB text rounds to 1e-3 Angstrom.
_MOVED_ATOM_TOLERANCE = 2e-3


def clean_pdb(pdb_str: str, ph: float = 7.0, seed: int = 0) -> Tuple[str, Dict]:
  """PDB text -> (cleaned PDB text with hydrogens, what changed).

  The dict counts replaced non-standard residues, removed heterogens and added heavy atoms
  (`missing_heavy_atoms`: {residue position: [atom names]}).
  """
  b = backend()
  saved_state = random.getstate()
  random.seed(seed)
  try:
    fixer = b.pdbfixer.PDBFixer(pdbfile=io.StringIO(pdb_str))
    fixer.findNonstandardResidues()
    changes = {'nonstandard_residues': [(r.index, r.name, new)
                                        for r, new in fixer.nonstandardResidues]}
    fixer.replaceNonstandardResidues()
    names_before = {r.name for r in fixer.topology.residues()}
    fixer.removeHeterogens(keepWater=False)
    changes['removed_heterogens'] = sorted(
        names_before - {r.name for r in fixer.topology.residues()})
    fixer.findMissingResidues()
    fixer.missingResidues = {}  # never invent residues: the Protein is the sequence
    fixer.findMissingAtoms()
    changes['missing_heavy_atoms'] = {r.index: [a.name for a in atom_list]
                                      for r, atom_list in fixer.missingAtoms.items()}
    fixer.addMissingAtoms(seed=seed)
    fixer.addMissingHydrogens(ph)
    out = io.StringIO()
    b.app.PDBFile.writeFile(fixer.topology, fixer.positions, out, keepIds=True)
  except Exception as e:  # pylint: disable=broad-except  # PDBFixer raises bare Exceptions
    raise RelaxError(f'PDBFixer clean-up failed: {type(e).__name__}: {e}') from e
  finally:
    random.setstate(saved_state)
  cleaned = out.getvalue()
  _check_atoms_not_moved(pdb_str, cleaned)
  return cleaned, changes


def _check_atoms_not_moved(reference_pdb: str, cleaned_pdb: str) -> None:
  """Every heavy atom of the reference sits at the same place in the cleaned structure."""
  ref = protein_lib.from_pdb_string(reference_pdb)
  new = protein_lib.from_pdb_string(cleaned_pdb)
  if ref.num_residues != new.num_residues or np.any(ref.aatype != new.aatype):
    raise RelaxError(f'PDBFixer changed the sequence ({ref.sequence} -> {new.sequence})')
  both = (ref.atom_mask > 0.5) & (new.atom_mask > 0.5)
  if np.any((ref.atom_mask > 0.5) & ~both):
    raise RelaxError('PDBFixer dropped input atoms')
  moved = np.abs(ref.atom_positions - new.atom_positions).max(axis=-1)[both]
  if moved.size and moved.max() > _MOVED_ATOM_TOLERANCE:
    raise RelaxError(f'PDBFixer moved input atoms (by up to {moved.max():.3f} A)')
