"""Heavy-atom naming: the atom37 and atom14 encodings and per-residue atom lists.

Pure NumPy (no jax). Values identical to AlphaFold2 v2.3.

  * atom37: one fixed slot per heavy-atom NAME occurring in any standard residue (+ OXT).
    A residue uses the subset of slots its atoms have; `restype_atom37_mask` [21, 37].
  * atom14: a dense per-residue layout, N CA C O first, then side chain in a residue-specific
    order (`restype_name_to_atom14_names`); TRP fills all 14. UNK has no atom14 atoms.
  * Gather maps between them (AF2 builds these in `make_atom14_masks`):
      restype_atom14_to_atom37 [21, 14] int32: atom37 index of each atom14 slot (0 if empty)
      restype_atom37_to_atom14 [21, 37] int32: atom14 index of each atom37 slot (0 if absent)
  * Ambiguous atoms (Suppl. Table 3): 180-degree symmetric side chains ASP, GLU, PHE, TYR
    whose atom names can be swapped; `restype_atom14_renaming_matrices` [21, 14, 14] (AF2's
    `all_atom.RENAMING_MATRICES`) permutes atom14 slots into the swapped naming.

All arrays are computed once at import and made read-only.
"""

from typing import Dict, List, Tuple

import numpy as np

from alphafold_jax.common import residues

atom_types = [
    'N', 'CA', 'C', 'CB', 'O', 'CG', 'CG1', 'CG2', 'OG', 'OG1', 'SG', 'CD',
    'CD1', 'CD2', 'ND1', 'ND2', 'OD1', 'OD2', 'SD', 'CE', 'CE1', 'CE2', 'CE3',
    'NE', 'NE1', 'NE2', 'OE1', 'OE2', 'CH2', 'NH1', 'NH2', 'OH', 'CZ', 'CZ2',
    'CZ3', 'NZ', 'OXT',
]
atom_order: Dict[str, int] = {name: i for i, name in enumerate(atom_types)}
atom_type_num: int = len(atom_types)  # 37

# atom14 layout per residue; missing trailing slots are ''.
_ATOM14_TABLE = """
ALA N CA C O CB
ARG N CA C O CB CG CD NE CZ NH1 NH2
ASN N CA C O CB CG OD1 ND2
ASP N CA C O CB CG OD1 OD2
CYS N CA C O CB SG
GLN N CA C O CB CG CD OE1 NE2
GLU N CA C O CB CG CD OE1 OE2
GLY N CA C O
HIS N CA C O CB CG ND1 CD2 CE1 NE2
ILE N CA C O CB CG1 CG2 CD1
LEU N CA C O CB CG CD1 CD2
LYS N CA C O CB CG CD CE NZ
MET N CA C O CB CG SD CE
PHE N CA C O CB CG CD1 CD2 CE1 CE2 CZ
PRO N CA C O CB CG CD
SER N CA C O CB OG
THR N CA C O CB OG1 CG2
TRP N CA C O CB CG CD1 CD2 NE1 CE2 CE3 CZ2 CZ3 CH2
TYR N CA C O CB CG CD1 CD2 CE1 CE2 CZ OH
VAL N CA C O CB CG1 CG2
UNK
"""

# Heavy atoms per residue in AF2's (PDB-derived) listing order; the order matters only to
# code that iterates it, the SET defines `restype_atom37_mask`.
_RESIDUE_ATOMS_TABLE = """
ALA C CA CB N O
ARG C CA CB CG CD CZ N NE O NH1 NH2
ASP C CA CB CG N O OD1 OD2
ASN C CA CB CG N ND2 O OD1
CYS C CA CB N O SG
GLU C CA CB CG CD N O OE1 OE2
GLN C CA CB CG CD N NE2 O OE1
GLY C CA N O
HIS C CA CB CG CD2 CE1 N ND1 NE2 O
ILE C CA CB CG1 CG2 CD1 N O
LEU C CA CB CG CD1 CD2 N O
LYS C CA CB CG CD CE N NZ O
MET C CA CB CG CE N O SD
PHE C CA CB CG CD1 CD2 CE1 CE2 CZ N O
PRO C CA CB CG CD N O
SER C CA CB N O OG
THR C CA CB CG2 N O OG1
TRP C CA CB CG CD1 CD2 CE2 CE3 CZ2 CZ3 CH2 N NE1 O
TYR C CA CB CG CD1 CD2 CE1 CE2 CZ N O OH
VAL C CA CB CG1 CG2 N O
"""


def _parse_name_table(table: str, pad_to: int = 0) -> Dict[str, List[str]]:
  out = {}
  for line in table.strip().splitlines():
    resname, *names = line.split()
    out[resname] = names + [''] * (pad_to - len(names)) if pad_to else names
  return out


restype_name_to_atom14_names: Dict[str, List[str]] = _parse_name_table(_ATOM14_TABLE, 14)
residue_atoms: Dict[str, List[str]] = _parse_name_table(_RESIDUE_ATOMS_TABLE)

# Ambiguous atom names (Suppl. Table 3). The lDDT paper lists 7 ambiguous residues; LEU,
# VAL and ARG are resolvable from geometry, leaving these four.
residue_atom_renaming_swaps: Dict[str, Dict[str, str]] = {
    'ASP': {'OD1': 'OD2'},
    'GLU': {'OE1': 'OE2'},
    'PHE': {'CD1': 'CD2', 'CE1': 'CE2'},
    'TYR': {'CD1': 'CD2', 'CE1': 'CE2'},
}


def atom_id_to_type(atom_id: str) -> str:
  """Element of a standard protein atom name from its first letter (C, N, O, H or S)."""
  if atom_id[:1] in ('C', 'N', 'O', 'H', 'S'):
    return atom_id[0]
  raise ValueError('Atom ID not recognized.')


def _readonly(array: np.ndarray) -> np.ndarray:
  array.setflags(write=False)
  return array


def _resname(restype: int) -> str:
  return residues.resnames[restype]  # 20 -> 'UNK'


def _make_atom14_tables() -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(restype_atom14_to_atom37 [21,14], restype_atom37_to_atom14 [21,37], atom14 mask [21,14])."""
  to37 = np.zeros((residues.restype_num + 1, 14), np.int32)
  to14 = np.zeros((residues.restype_num + 1, atom_type_num), np.int32)
  mask14 = np.zeros((residues.restype_num + 1, 14), np.float32)
  for restype in range(residues.restype_num):  # UNK row stays all zero
    for slot, name in enumerate(restype_name_to_atom14_names[_resname(restype)]):
      if name:
        to37[restype, slot] = atom_order[name]
        to14[restype, atom_order[name]] = slot
        mask14[restype, slot] = 1.0
  return to37, to14, mask14


def _make_atom37_mask(dtype) -> np.ndarray:
  mask = np.zeros((residues.restype_num + 1, atom_type_num), dtype)  # [21, 37]
  for restype in range(residues.restype_num):
    for name in residue_atoms[_resname(restype)]:
      mask[restype, atom_order[name]] = 1
  return mask


def _make_renaming_tables() -> Tuple[np.ndarray, np.ndarray]:
  """Permutation matrices [21, 14, 14] for the swapped naming, and is-ambiguous [21, 14].

  `renamed[i] = sum_j positions[j] * M[i, j]`: row i of M picks the atom that takes slot i.
  """
  matrices = np.tile(np.eye(14, dtype=np.float32), (residues.restype_num + 1, 1, 1))
  ambiguous = np.zeros((residues.restype_num + 1, 14), np.float32)
  for resname, swaps in residue_atom_renaming_swaps.items():
    restype = residues.resname_to_idx[resname]
    names = restype_name_to_atom14_names[resname]
    perm = np.arange(14)
    for a, b in swaps.items():
      ia, ib = names.index(a), names.index(b)
      perm[ia], perm[ib] = ib, ia
      ambiguous[restype, [ia, ib]] = 1.0
    matrices[restype] = np.eye(14, dtype=np.float32)[perm]
  return matrices, ambiguous


(restype_atom14_to_atom37, restype_atom37_to_atom14,
 restype_atom14_mask) = map(_readonly, _make_atom14_tables())
restype_atom37_mask = _readonly(_make_atom37_mask(np.float32))  # [21, 37] float32
STANDARD_ATOM_MASK = _readonly(_make_atom37_mask(np.int32))  # [21, 37] int32 (AF2 name)
restype_atom14_renaming_matrices, restype_atom14_is_ambiguous = map(
    _readonly, _make_renaming_tables())
