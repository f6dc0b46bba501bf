"""`relax_protein`: AF2's iterative restrained Amber relax (Jumper et al. 2021, Suppl. Sec.
1.8.6), with our violation check deciding when to stop.

Protocol (AF2's `run_pipeline` with the settings of run_alphafold.py):
  1. PDBFixer clean-up of the input (cleanup.py): standard residues, missing heavy atoms,
     hydrogens at pH 7.
  2. Restrained minimisation (minimize.py): Amber99sb, heavy atoms held to their starting
     positions by k = `stiffness` kcal/mol/A^2 except atoms of `exclude_residues` (zero-based
     residue positions), L-BFGS to `tolerance` or `max_iterations` steps (0 = no limit); an
     OpenMM failure is retried up to `max_attempts` times on a GPU platform.
  3. Violation check (checks.py) on the minimised heavy atoms. If any residue violates and
     fewer than `max_outer_iterations` rounds ran: add the violating residues to the excluded
     set, re-place the hydrogens (PDBFixer again) and go to 2 with the minimised structure as
     the new restraint reference.

Units: Angstrom, kcal/mol. DISCREPANCY (reporting only, the minimisation is AF2's):
`initial_energy` is the energy of the cleaned input (first round), AF2 reports the last round's
starting energy; `rmsd_to_input` is over heavy atoms present in the input, without
superposition, input vs final (AF2: all atoms incl. hydrogens, last round only); the relaxed PDB
keeps the input's residue numbers and chain id (AF2 renumbers from 1).
"""

import dataclasses
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from alphafold_jax.common import atoms
from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residues
from alphafold_jax.relax import checks, cleanup, minimize
from alphafold_jax.relax.errors import RelaxError, backend

# GPU platforms, where a failed minimisation may succeed when tried again. DISCREPANCY: AF2 tries
# up to max_attempts times on any platform; on CPU/Reference a failure (NaN coordinates from a
# pathological input) repeats identically, so we try once there.
_RETRY_PLATFORMS = ('CUDA', 'OpenCL', 'HIP')


@dataclasses.dataclass(frozen=True)
class RelaxConfig:
  """Relax settings; defaults are AF2's (run_alphafold.py RELAX_* constants, CPU)."""
  max_iterations: int = 0            # L-BFGS steps per minimisation; 0 = until converged
  tolerance: float = 2.39            # kcal/mol/A, RMS-force convergence of L-BFGS
  stiffness: float = 10.0            # kcal/mol/A^2, heavy-atom restraint spring constant
  exclude_residues: Sequence[int] = ()  # zero-based residue positions never restrained
  max_outer_iterations: int = 3      # violation-informed rounds (1 = CASP14's single pass)
  max_attempts: int = 100            # OpenMM tries per round on GPU platforms (AF2's value)
  restraint_set: str = 'non_hydrogen'  # or 'c_alpha'
  solvent: str = 'none'              # AF2: vacuum; 'obc' = OBC implicit solvent
  platform: str = 'CPU'              # OpenMM platform: CPU, CUDA, OpenCL, Reference
  place_hydrogens_every_iteration: bool = True

  def __post_init__(self):
    if self.max_iterations < 0 or self.max_outer_iterations < 1 or self.max_attempts < 1:
      raise ValueError('RelaxConfig needs max_iterations >= 0, max_outer_iterations >= 1 and '
                       'max_attempts >= 1')
    if self.tolerance <= 0 or self.stiffness < 0:
      raise ValueError('RelaxConfig needs tolerance > 0 and stiffness >= 0')
    if self.restraint_set not in minimize.RESTRAINT_SETS:
      raise ValueError(f'restraint_set must be one of {minimize.RESTRAINT_SETS}')
    if self.solvent not in minimize.FORCE_FIELDS:
      raise ValueError(f'solvent must be one of {tuple(minimize.FORCE_FIELDS)}')
    object.__setattr__(self, 'exclude_residues', tuple(int(i) for i in self.exclude_residues))


def check_relaxable(prot: protein_lib.Protein) -> None:
  """RelaxError (one line) for inputs Amber cannot take: UNK residues, residues without
  backbone atoms, non-finite coordinates, chains shorter than 2 residues."""
  if prot.num_residues < 2:
    raise RelaxError(f'cannot relax a chain of {prot.num_residues} residue(s): need at least 2')
  unknown = np.flatnonzero(prot.aatype == residues.unk_restype_index)
  if unknown.size:
    raise RelaxError(f'cannot relax unknown (UNK) residues at positions {unknown.tolist()}: '
                     'Amber has no template for them')
  mask = prot.atom_mask > 0.5
  backbone = [atoms.atom_order[name] for name in ('N', 'CA', 'C')]
  incomplete = np.flatnonzero(~mask[:, backbone].all(axis=-1))
  if incomplete.size:
    raise RelaxError(f'cannot relax residues without N, CA and C at positions '
                     f'{incomplete.tolist()}')
  if not np.all(np.isfinite(prot.atom_positions[mask])):
    raise RelaxError('cannot relax a structure with non-finite coordinates')


def heavy_atom_rmsd(reference: protein_lib.Protein, moved: protein_lib.Protein) -> float:
  """RMSD (Angstrom, no superposition) over atom37 atoms present in both proteins."""
  both = (reference.atom_mask > 0.5) & (moved.atom_mask > 0.5)
  diff = reference.atom_positions[both] - moved.atom_positions[both]
  return float(np.sqrt(np.mean(np.sum(diff.astype(np.float64) ** 2, axis=-1))))


def set_residue_b_factors(pdb_str: str, prot: protein_lib.Protein) -> str:
  """Writes each residue's B-factor (CA's, e.g. pLDDT) on all of its atoms, hydrogens too,
  residues taken in file order."""
  mask = prot.atom_mask > 0.5
  ca = atoms.atom_order['CA']
  per_residue = np.where(mask[:, ca], prot.b_factors[:, ca],
                         np.max(np.where(mask, prot.b_factors, 0.0), axis=-1))
  lines, index, key = [], -1, None
  for line in pdb_str.splitlines():
    if line.startswith(('ATOM  ', 'HETATM')):
      if line[17:27] != key:
        key, index = line[17:27], index + 1
      if index >= len(per_residue):
        raise RelaxError('relaxed structure has more residues than the input')
      line = f'{line[:60]:<60}{per_residue[index]:6.2f}{line[66:]}'
    lines.append(line)
  return '\n'.join(lines) + '\n'


def _minimize_with_retries(pdb_str: str, exclude: set, config: RelaxConfig) -> Dict:
  mm = backend().openmm
  error = None
  attempts = config.max_attempts if config.platform in _RETRY_PLATFORMS else 1
  for attempt in range(1, attempts + 1):
    try:
      out = minimize.minimize(
          pdb_str, stiffness=config.stiffness, tolerance=config.tolerance,
          max_iterations=config.max_iterations, exclude_residues=sorted(exclude),
          restraint_set=config.restraint_set, solvent=config.solvent,
          platform=config.platform)
      out['attempts'] = attempt
      return out
    except mm.OpenMMException as e:  # what AF2 retries (e.g. NaN during minimisation)
      error = e
    except RelaxError:
      raise
    except ValueError as e:  # no force-field template and the like: retrying cannot help
      raise RelaxError(f'OpenMM could not build the system: {e}') from e
  raise RelaxError(f'minimisation failed after {attempts} attempt(s): {error}')


def relax_protein(prot: protein_lib.Protein,
                  config: Optional[RelaxConfig] = None) -> Tuple[str, Dict]:
  """Amber-relaxes one chain. Returns (relaxed PDB text with hydrogens and the input's
  per-residue B-factors, info).

  info (JSON-ready): initial_energy, final_energy (kcal/mol), rmsd_to_input (heavy atoms, A),
  violations_before, violations_after (residues with any AF2 violation),
  violations_per_residue_before/after (fractions), violating_residues_after (zero-based),
  outer_iterations, attempts (OpenMM minimisations run), time_s, added_heavy_atoms,
  iterations (per round: initial/final energy, violations, excluded residues, attempts).

  Raises RelaxUnavailableError without the `relax` extra, RelaxError when this structure cannot
  be relaxed.
  """
  config = config or RelaxConfig()
  backend()  # RelaxUnavailableError before any work
  started = time.time()
  check_relaxable(prot)
  before = checks.violation_report(prot)
  pdb_str, changes = cleanup.clean_pdb(protein_lib.to_pdb(prot))
  exclude = set(config.exclude_residues)
  rounds, relaxed, out = [], None, None
  violations = None
  while (violations is None or violations > 0) and len(rounds) < config.max_outer_iterations:
    round_start = time.time()
    out = _minimize_with_retries(pdb_str, exclude, config)
    relaxed = protein_lib.from_pdb_string(out['pdb'])
    report = checks.violation_report(relaxed)
    rounds.append({
        'initial_energy': out['initial_energy'], 'final_energy': out['final_energy'],
        'num_residue_violations': report['num_residue_violations'],
        'num_excluded_residues': len(exclude), 'attempts': out['attempts'],
        'time_s': round(time.time() - round_start, 3)})
    violations = report['num_residue_violations']
    exclude |= set(report['residue_violations'])
    if violations > 0 and len(rounds) < config.max_outer_iterations:
      pdb_str = (cleanup.clean_pdb(protein_lib.to_pdb(relaxed))[0]
                 if config.place_hydrogens_every_iteration else out['pdb'])
  _check_same_atoms(prot, relaxed)
  info = {
      'initial_energy': rounds[0]['initial_energy'],
      'final_energy': rounds[-1]['final_energy'],
      'rmsd_to_input': heavy_atom_rmsd(prot, relaxed),
      'violations_before': before['num_residue_violations'],
      'violations_after': report['num_residue_violations'],
      'violations_per_residue_before': before['violations_per_residue'],
      'violations_per_residue_after': report['violations_per_residue'],
      'violating_residues_after': report['residue_violations'],
      'outer_iterations': len(rounds),
      'attempts': sum(r['attempts'] for r in rounds),
      'time_s': round(time.time() - started, 3),
      'added_heavy_atoms': sum(len(v) for v in changes['missing_heavy_atoms'].values()),
      'iterations': rounds,
  }
  return set_residue_b_factors(out['pdb'], prot), info


def _check_same_atoms(prot: protein_lib.Protein, relaxed: protein_lib.Protein) -> None:
  """The relaxed chain has the input's residues and every input heavy atom (OXT aside)."""
  if relaxed.num_residues != prot.num_residues or np.any(relaxed.aatype != prot.aatype):
    raise RelaxError('relaxed structure has a different sequence from the input')
  lost = (prot.atom_mask > 0.5) & (relaxed.atom_mask < 0.5)
  lost[:, atoms.atom_order['OXT']] = False
  if lost.any():
    raise RelaxError(f'relaxed structure lost {int(lost.sum())} input atom(s)')
