"""`Protein`: one protein chain in the atom37 representation, with PDB/mmCIF I/O.

Shapes (L = residues):
  aatype          int32   [L]        0..19 standard (residues.restypes order), 20 = UNK
  atom_positions  float32 [L, 37, 3] angstrom, atom37 order (atoms.atom_types)
  atom_mask       float32 [L, 37]    1 where the atom was observed / is predicted
  residue_index   int32   [L]        author residue numbers (may start anywhere, have gaps)
  chain_id        str                author chain id
  b_factors       float32 [L, 37]    B-factors (or pLDDT when written by inference)
  insertion_codes str     [L]        PDB insertion codes, '' when none

Reading rules live in structure_io.py, writing in structure_writers.py; errors are
`StructureError` (a ValueError) with a one-line message.
"""

import dataclasses
import os
from typing import Optional, Union

import numpy as np

from alphafold_jax.common import residues
from alphafold_jax.common import structure_io
from alphafold_jax.common import structure_writers
from alphafold_jax.common.structure_io import MODIFIED_RESIDUE_PARENTS, StructureError

__all__ = ['Protein', 'StructureError', 'MODIFIED_RESIDUE_PARENTS', 'from_file',
           'from_pdb_string', 'from_mmcif_string', 'from_string', 'to_pdb', 'to_mmcif',
           'write_file']


@dataclasses.dataclass(frozen=True, eq=False)
class Protein:
  """A single protein chain (atom37). Arrays are NumPy and made read-only.

  Equality and hashing are by identity (arrays have no single truth value).
  """

  aatype: np.ndarray  # [L] int32
  atom_positions: np.ndarray  # [L, 37, 3] float32
  atom_mask: np.ndarray  # [L, 37] float32
  residue_index: np.ndarray  # [L] int32
  chain_id: str = 'A'
  b_factors: Optional[np.ndarray] = None  # [L, 37] float32; zeros when None
  insertion_codes: Optional[np.ndarray] = None  # [L] str; '' when None

  def __post_init__(self):
    aatype = np.asarray(self.aatype)
    n = aatype.shape[0] if aatype.ndim == 1 else -1
    if aatype.ndim != 1:
      raise ValueError(f'Protein.aatype must be 1-D [L], got shape {aatype.shape}')
    expected = {'atom_positions': (n, 37, 3), 'atom_mask': (n, 37), 'residue_index': (n,)}
    fields = {
        'aatype': aatype.astype(np.int32),
        'atom_positions': np.asarray(self.atom_positions, np.float32),
        'atom_mask': np.asarray(self.atom_mask, np.float32),
        'residue_index': np.asarray(self.residue_index).astype(np.int32),
        'b_factors': (np.zeros((n, 37), np.float32) if self.b_factors is None
                      else np.asarray(self.b_factors, np.float32)),
        'insertion_codes': (np.full((n,), '', dtype='<U1') if self.insertion_codes is None
                            else np.asarray(self.insertion_codes, dtype='<U1')),
    }
    expected.update({'b_factors': (n, 37), 'insertion_codes': (n,)})
    for name, shape in expected.items():
      if fields[name].shape != shape:
        raise ValueError(f'Protein.{name} must have shape {shape} for L={n} residues, '
                         f'got {fields[name].shape}')
    if n and (fields['aatype'].min() < 0 or fields['aatype'].max() > residues.unk_restype_index):
      raise ValueError('Protein.aatype values must lie in 0..20 (20 = UNK)')
    for name, value in fields.items():
      value = np.array(value)  # own copy, then freeze
      value.setflags(write=False)
      object.__setattr__(self, name, value)
    object.__setattr__(self, 'chain_id', str(self.chain_id))

  @property
  def num_residues(self) -> int:
    return int(self.aatype.shape[0])

  @property
  def sequence(self) -> str:
    """One-letter sequence; UNK -> 'X'."""
    return residues.sequence_from_aatype(self.aatype)

  def replace(self, **changes) -> 'Protein':
    """A copy with some fields replaced (e.g. b_factors=plddt)."""
    return dataclasses.replace(self, **changes)


def _from_arrays(arrays) -> Protein:
  return Protein(**arrays)


def from_string(text: str, fmt: str, chain_id: Optional[str] = None,
                source: str = '<string>') -> Protein:
  """Parses PDB (`fmt='pdb'`) or mmCIF (`fmt='mmcif'`) text; see structure_io for rules."""
  return _from_arrays(structure_io.parse_chain(text, fmt, chain_id, source))


def from_pdb_string(text: str, chain_id: Optional[str] = None) -> Protein:
  """One chain (default: first protein chain) of the first model of PDB text."""
  return from_string(text, 'pdb', chain_id, '<PDB string>')


def from_mmcif_string(text: str, chain_id: Optional[str] = None) -> Protein:
  """One chain (default: first protein chain, author ids) of the first model of mmCIF text."""
  return from_string(text, 'mmcif', chain_id, '<mmCIF string>')


def from_file(path: Union[str, os.PathLike], chain_id: Optional[str] = None) -> Protein:
  """Reads a PDB or mmCIF file (format from extension, else content; .gz accepted).

  Raises:
    StructureError: missing/unreadable/empty/truncated/garbage file, no protein chain, or
      `chain_id` not present (the message lists the available chains).
  """
  text, fmt = structure_io.read_structure_text(path)
  return from_string(text, fmt, chain_id, str(path))


def to_pdb(protein: Protein) -> str:
  """PDB text (ATOM records with B-factors, TER, END)."""
  return structure_writers.to_pdb(protein)


def to_mmcif(protein: Protein, entry_id: str = 'protein') -> str:
  """mmCIF text (entity/sequence categories + _atom_site with B-factors)."""
  return structure_writers.to_mmcif(protein, entry_id)


def write_file(protein: Protein, path: Union[str, os.PathLike]) -> None:
  """Writes mmCIF for .cif/.mmcif paths, PDB otherwise."""
  path = os.fspath(path)
  is_cif = path.lower().endswith(('.cif', '.mmcif'))
  text = to_mmcif(protein) if is_cif else to_pdb(protein)
  with open(path, 'w') as f:
    f.write(text)
