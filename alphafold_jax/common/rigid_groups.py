"""The 8 rigid groups per residue, chi angles, and literature atom positions.

Jumper et al. 2021, Suppl. 1.8 ("Representation of side chains") and Suppl. Table 2: each
residue is a set of rigid groups whose atoms have idealised positions in the group's local
frame (Engh & Huber literature values). Group indices:

  0 backbone (N, CA, C, CB)    1 pre-omega (empty)    2 phi (hydrogens only: empty)
  3 psi (O)                    4..7 chi1..chi4

Atom positions are relative to the END atom of the group's rotation axis; the x axis points
along the rotation axis and the y axis is chosen so the atom that defines the torsion (the
last of its chi quadruple) lies in the xy plane with positive y.

Default frames `restype_rigid_group_default_frame` [21, 8, 4, 4] map each group's local
frame into its PARENT frame (backbone for groups 1..4, chi_{k-1} for chi_k) when the torsion
angle is zero; Suppl. Alg. 24 (computeAllAtomCoordinates) composes them with the torsion
rotations. All arrays are computed once at import and are read-only. Values are identical to
AlphaFold2 v2.3 (`alphafold.common.residue_constants`, `alphafold.model.all_atom`).
"""

import collections
from typing import Dict, List, Tuple

import numpy as np

from alphafold_jax.common import atoms
from alphafold_jax.common import residues

NUM_RIGID_GROUPS = 8

# Chi torsions as atom quadruples (chi1..chi4 as present). ARG's chi5 is always 0 +- 5
# degrees and is ignored.
_CHI_TABLE = """
ARG N CA CB CG | CA CB CG CD | CB CG CD NE | CG CD NE CZ
ASN N CA CB CG | CA CB CG OD1
ASP N CA CB CG | CA CB CG OD1
CYS N CA CB SG
GLN N CA CB CG | CA CB CG CD | CB CG CD OE1
GLU N CA CB CG | CA CB CG CD | CB CG CD OE1
HIS N CA CB CG | CA CB CG ND1
ILE N CA CB CG1 | CA CB CG1 CD1
LEU N CA CB CG | CA CB CG CD1
LYS N CA CB CG | CA CB CG CD | CB CG CD CE | CG CD CE NZ
MET N CA CB CG | CA CB CG SD | CB CG SD CE
PHE N CA CB CG | CA CB CG CD1
PRO N CA CB CG | CA CB CG CD
SER N CA CB OG
THR N CA CB OG1
TRP N CA CB CG | CA CB CG CD1
TYR N CA CB CG | CA CB CG CD1
VAL N CA CB CG1
"""

# Chis that are symmetric under a 180-degree rotation (the ambiguous residues' last chi).
_PI_PERIODIC = {'ASP': 1, 'GLU': 2, 'PHE': 1, 'TYR': 1}  # resname -> chi index (0-based)

# Literature atom positions: resname, atom, rigid group, x y z (angstrom) in the group frame.
_LITERATURE_POSITIONS = """
ALA N    0  -0.525   1.363   0.000
ALA CA   0   0.000   0.000   0.000
ALA C    0   1.526  -0.000  -0.000
ALA CB   0  -0.529  -0.774  -1.205
ALA O    3   0.627   1.062   0.000

ARG N    0  -0.524   1.362  -0.000
ARG CA   0   0.000   0.000   0.000
ARG C    0   1.525  -0.000  -0.000
ARG CB   0  -0.524  -0.778  -1.209
ARG O    3   0.626   1.062   0.000
ARG CG   4   0.616   1.390  -0.000
ARG CD   5   0.564   1.414   0.000
ARG NE   6   0.539   1.357  -0.000
ARG NH1  7   0.206   2.301   0.000
ARG NH2  7   2.078   0.978  -0.000
ARG CZ   7   0.758   1.093  -0.000

ASN N    0  -0.536   1.357   0.000
ASN CA   0   0.000   0.000   0.000
ASN C    0   1.526  -0.000  -0.000
ASN CB   0  -0.531  -0.787  -1.200
ASN O    3   0.625   1.062   0.000
ASN CG   4   0.584   1.399   0.000
ASN ND2  5   0.593  -1.188   0.001
ASN OD1  5   0.633   1.059   0.000

ASP N    0  -0.525   1.362  -0.000
ASP CA   0   0.000   0.000   0.000
ASP C    0   1.527   0.000  -0.000
ASP CB   0  -0.526  -0.778  -1.208
ASP O    3   0.626   1.062  -0.000
ASP CG   4   0.593   1.398  -0.000
ASP OD1  5   0.610   1.091   0.000
ASP OD2  5   0.592  -1.101  -0.003

CYS N    0  -0.522   1.362  -0.000
CYS CA   0   0.000   0.000   0.000
CYS C    0   1.524   0.000   0.000
CYS CB   0  -0.519  -0.773  -1.212
CYS O    3   0.625   1.062  -0.000
CYS SG   4   0.728   1.653   0.000

GLN N    0  -0.526   1.361  -0.000
GLN CA   0   0.000   0.000   0.000
GLN C    0   1.526   0.000   0.000
GLN CB   0  -0.525  -0.779  -1.207
GLN O    3   0.626   1.062  -0.000
GLN CG   4   0.615   1.393   0.000
GLN CD   5   0.587   1.399  -0.000
GLN NE2  6   0.593  -1.189  -0.001
GLN OE1  6   0.634   1.060   0.000

GLU N    0  -0.528   1.361   0.000
GLU CA   0   0.000   0.000   0.000
GLU C    0   1.526  -0.000  -0.000
GLU CB   0  -0.526  -0.781  -1.207
GLU O    3   0.626   1.062   0.000
GLU CG   4   0.615   1.392   0.000
GLU CD   5   0.600   1.397   0.000
GLU OE1  6   0.607   1.095  -0.000
GLU OE2  6   0.589  -1.104  -0.001

GLY N    0  -0.572   1.337   0.000
GLY CA   0   0.000   0.000   0.000
GLY C    0   1.517  -0.000  -0.000
GLY O    3   0.626   1.062  -0.000

HIS N    0  -0.527   1.360   0.000
HIS CA   0   0.000   0.000   0.000
HIS C    0   1.525   0.000   0.000
HIS CB   0  -0.525  -0.778  -1.208
HIS O    3   0.625   1.063   0.000
HIS CG   4   0.600   1.370  -0.000
HIS CD2  5   0.889  -1.021   0.003
HIS ND1  5   0.744   1.160  -0.000
HIS CE1  5   2.030   0.851   0.002
HIS NE2  5   2.145  -0.466   0.004

ILE N    0  -0.493   1.373  -0.000
ILE CA   0   0.000   0.000   0.000
ILE C    0   1.527  -0.000  -0.000
ILE CB   0  -0.536  -0.793  -1.213
ILE O    3   0.627   1.062  -0.000
ILE CG1  4   0.534   1.437  -0.000
ILE CG2  4   0.540  -0.785  -1.199
ILE CD1  5   0.619   1.391   0.000

LEU N    0  -0.520   1.363   0.000
LEU CA   0   0.000   0.000   0.000
LEU C    0   1.525  -0.000  -0.000
LEU CB   0  -0.522  -0.773  -1.214
LEU O    3   0.625   1.063  -0.000
LEU CG   4   0.678   1.371   0.000
LEU CD1  5   0.530   1.430  -0.000
LEU CD2  5   0.535  -0.774   1.200

LYS N    0  -0.526   1.362  -0.000
LYS CA   0   0.000   0.000   0.000
LYS C    0   1.526   0.000   0.000
LYS CB   0  -0.524  -0.778  -1.208
LYS O    3   0.626   1.062  -0.000
LYS CG   4   0.619   1.390   0.000
LYS CD   5   0.559   1.417   0.000
LYS CE   6   0.560   1.416   0.000
LYS NZ   7   0.554   1.387   0.000

MET N    0  -0.521   1.364  -0.000
MET CA   0   0.000   0.000   0.000
MET C    0   1.525   0.000   0.000
MET CB   0  -0.523  -0.776  -1.210
MET O    3   0.625   1.062  -0.000
MET CG   4   0.613   1.391  -0.000
MET SD   5   0.703   1.695   0.000
MET CE   6   0.320   1.786  -0.000

PHE N    0  -0.518   1.363   0.000
PHE CA   0   0.000   0.000   0.000
PHE C    0   1.524   0.000  -0.000
PHE CB   0  -0.525  -0.776  -1.212
PHE O    3   0.626   1.062  -0.000
PHE CG   4   0.607   1.377   0.000
PHE CD1  5   0.709   1.195  -0.000
PHE CD2  5   0.706  -1.196   0.000
PHE CE1  5   2.102   1.198  -0.000
PHE CE2  5   2.098  -1.201  -0.000
PHE CZ   5   2.794  -0.003  -0.001

PRO N    0  -0.566   1.351  -0.000
PRO CA   0   0.000   0.000   0.000
PRO C    0   1.527  -0.000   0.000
PRO CB   0  -0.546  -0.611  -1.293
PRO O    3   0.621   1.066   0.000
PRO CG   4   0.382   1.445   0.000
PRO CD   5   0.477   1.424   0.000

SER N    0  -0.529   1.360  -0.000
SER CA   0   0.000   0.000   0.000
SER C    0   1.525  -0.000  -0.000
SER CB   0  -0.518  -0.777  -1.211
SER O    3   0.626   1.062  -0.000
SER OG   4   0.503   1.325   0.000

THR N    0  -0.517   1.364   0.000
THR CA   0   0.000   0.000   0.000
THR C    0   1.526   0.000  -0.000
THR CB   0  -0.516  -0.793  -1.215
THR O    3   0.626   1.062   0.000
THR CG2  4   0.550  -0.718  -1.228
THR OG1  4   0.472   1.353   0.000

TRP N    0  -0.521   1.363   0.000
TRP CA   0   0.000   0.000   0.000
TRP C    0   1.525  -0.000   0.000
TRP CB   0  -0.523  -0.776  -1.212
TRP O    3   0.627   1.062   0.000
TRP CG   4   0.609   1.370  -0.000
TRP CD1  5   0.824   1.091   0.000
TRP CD2  5   0.854  -1.148  -0.005
TRP CE2  5   2.186  -0.678  -0.007
TRP CE3  5   0.622  -2.530  -0.007
TRP NE1  5   2.140   0.690  -0.004
TRP CH2  5   3.028  -2.890  -0.013
TRP CZ2  5   3.283  -1.543  -0.011
TRP CZ3  5   1.715  -3.389  -0.011

TYR N    0  -0.522   1.362   0.000
TYR CA   0   0.000   0.000   0.000
TYR C    0   1.524  -0.000  -0.000
TYR CB   0  -0.522  -0.776  -1.213
TYR O    3   0.627   1.062  -0.000
TYR CG   4   0.607   1.382  -0.000
TYR CD1  5   0.716   1.195  -0.000
TYR CD2  5   0.713  -1.194  -0.001
TYR CE1  5   2.107   1.200  -0.002
TYR CE2  5   2.104  -1.201  -0.003
TYR OH   5   4.168  -0.002  -0.005
TYR CZ   5   2.791  -0.001  -0.003

VAL N    0  -0.494   1.373  -0.000
VAL CA   0   0.000   0.000   0.000
VAL C    0   1.527  -0.000  -0.000
VAL CB   0  -0.533  -0.795  -1.213
VAL O    3   0.627   1.062  -0.000
VAL CG1  4   0.540   1.429  -0.000
VAL CG2  4   0.533  -0.776   1.203
"""


def _parse_chi_table() -> Dict[str, List[List[str]]]:
  table = {name: [] for name in residues.resnames[:-1]}
  for line in _CHI_TABLE.strip().splitlines():
    resname, rest = line.split(maxsplit=1)
    table[resname] = [quad.split() for quad in rest.split('|')]
  return table


def _parse_positions() -> Dict[str, List[list]]:
  table: Dict[str, List[list]] = {}
  for line in _LITERATURE_POSITIONS.strip().splitlines():
    if not line.strip():
      continue
    resname, atom, group, x, y, z = line.split()
    table.setdefault(resname, []).append([atom, int(group), (float(x), float(y), float(z))])
  return table


chi_angles_atoms: Dict[str, List[List[str]]] = _parse_chi_table()
chi_angles_mask: List[List[float]] = [
    [1.0 if k < len(chi_angles_atoms[r]) else 0.0 for k in range(4)]
    for r in residues.resnames[:-1]]  # [20][4], aatype order
chi_pi_periodic: List[List[float]] = [
    [1.0 if _PI_PERIODIC.get(r) == k else 0.0 for k in range(4)]
    for r in residues.resnames]  # [21][4], includes UNK
rigid_group_atom_positions: Dict[str, List[list]] = _parse_positions()


def _readonly(array: np.ndarray) -> np.ndarray:
  array.setflags(write=False)
  return array


def _frame_4x4(x_direction, xy_direction, origin) -> np.ndarray:
  """4x4 homogeneous frame: e1 along `x_direction`, e2 = Gram-Schmidt of `xy_direction`.

  Columns of the 3x3 block are the axes (e1, e2, e3 = e1 x e2); last column the origin.
  """
  e1 = np.asarray(x_direction, np.float64)
  e1 = e1 / np.linalg.norm(e1)
  e2 = np.asarray(xy_direction, np.float64)
  e2 = e2 - np.dot(e2, e1) * e1
  e2 = e2 / np.linalg.norm(e2)
  frame = np.eye(4)
  frame[:3, 0], frame[:3, 1], frame[:3, 2] = e1, e2, np.cross(e1, e2)
  frame[:3, 3] = origin
  return frame


def _make_group_tables():
  """Per-(restype, atom) rigid-group assignments and local positions, and default frames."""
  n_types = residues.restype_num + 1
  group37 = np.zeros((n_types, atoms.atom_type_num), dtype=int)  # [21, 37]
  pos37 = np.zeros((n_types, atoms.atom_type_num, 3), np.float32)  # [21, 37, 3]
  group14 = np.zeros((n_types, 14), dtype=int)  # [21, 14]
  pos14 = np.zeros((n_types, 14, 3), np.float32)  # [21, 14, 3]
  frames = np.zeros((n_types, NUM_RIGID_GROUPS, 4, 4), np.float32)  # [21, 8, 4, 4]

  for restype in range(residues.restype_num):  # UNK stays zero
    resname = residues.resnames[restype]
    atom14_names = atoms.restype_name_to_atom14_names[resname]
    position = {}
    for name, group, xyz in rigid_group_atom_positions[resname]:
      position[name] = np.array(xyz)
      group37[restype, atoms.atom_order[name]] = group
      pos37[restype, atoms.atom_order[name]] = xyz
      group14[restype, atom14_names.index(name)] = group
      pos14[restype, atom14_names.index(name)] = xyz

    frames[restype, 0] = np.eye(4)  # backbone -> backbone
    frames[restype, 1] = np.eye(4)  # pre-omega -> backbone (placeholder identity)
    # phi frame: x along CA->N, y from the backbone x axis, origin at N.
    frames[restype, 2] = _frame_4x4(position['N'] - position['CA'], [1.0, 0.0, 0.0],
                                    position['N'])
    # psi frame: x along CA->C, y from N->CA, origin at C.
    frames[restype, 3] = _frame_4x4(position['C'] - position['CA'],
                                    position['CA'] - position['N'], position['C'])
    for chi, quad in enumerate(chi_angles_atoms[resname]):
      if chi == 0:
        # chi1 frame (in backbone frame): x along CA->CB, y from CA->N, origin at CB.
        a, b, c = (position[name] for name in quad[:3])
        frames[restype, 4] = _frame_4x4(c - b, a - b, c)
      else:
        # chi_k frame in chi_{k-1} frame: the axis starts at the parent origin and ends at
        # the parent-local position of quad[2]; y from the parent's -x axis.
        end = position[quad[2]]
        frames[restype, 4 + chi] = _frame_4x4(end, [-1.0, 0.0, 0.0], end)
  return group37, pos37, group14, pos14, frames


(restype_atom37_to_rigid_group, restype_atom37_rigid_group_positions,
 restype_atom14_to_rigid_group, restype_atom14_rigid_group_positions,
 restype_rigid_group_default_frame) = map(_readonly, _make_group_tables())


def chi_angle_atom(which: int) -> np.ndarray:
  """[21, 37, 4] float: one-hot of the `which`-th atom (0..3) of each chi quadruple."""
  onehot = np.zeros((residues.restype_num + 1, atoms.atom_type_num, 4))
  for restype in range(residues.restype_num):
    for chi, quad in enumerate(chi_angles_atoms[residues.resnames[restype]]):
      onehot[restype, atoms.atom_order[quad[which]], chi] = 1.0
  # AF2 QUIRK: AF2 pads missing chis with index -1, which one-hot-encodes the LAST atom37
  # slot (OXT) for every absent chi of the 20 standard residues; reproduce that exactly.
  for restype in range(residues.restype_num):
    for chi in range(len(chi_angles_atoms[residues.resnames[restype]]), 4):
      onehot[restype, atoms.atom_type_num - 1, chi] = 1.0
  return onehot


chi_atom_1_one_hot = _readonly(chi_angle_atom(1))  # [21, 37, 4]
chi_atom_2_one_hot = _readonly(chi_angle_atom(2))  # [21, 37, 4]

# [20, 4, 4] atom37 indices of each chi quadruple (absent chis padded with 0).
chi_angles_atom_indices = _readonly(np.array([
    [[atoms.atom_order[n] for n in quad] for quad in chi_angles_atoms[r]]
    + [[0, 0, 0, 0]] * (4 - len(chi_angles_atoms[r]))
    for r in residues.resnames[:-1]], dtype=int))

# The same tables with a 21st all-zero row for UNK (aatype 20), as both torsion extractors
# index them: atom indices [21, 4, 4], chi exists [21, 4], chi is pi-periodic [21, 4].
chi_angles_atom_indices_with_unk = _readonly(np.concatenate(
    [chi_angles_atom_indices, np.zeros((1, 4, 4), int)], axis=0))
chi_angles_mask_with_unk = _readonly(np.concatenate(
    [np.asarray(chi_angles_mask, np.float32), np.zeros((1, 4), np.float32)], axis=0))
chi_pi_periodic_with_unk = _readonly(np.asarray(chi_pi_periodic, np.float32)[:21])


def _make_chi_groups_for_atom() -> Dict[Tuple[str, str], List[Tuple[int, int]]]:
  groups = collections.defaultdict(list)
  for resname, quads in chi_angles_atoms.items():
    for chi, quad in enumerate(quads):
      for position, name in enumerate(quad):
        groups[(resname, name)].append((chi, position))
  return dict(groups)


# (resname, atom) -> [(chi index, position of the atom in that chi quadruple), ...]
chi_groups_for_atom = _make_chi_groups_for_atom()


def _make_rigidgroup_base_atoms():
  """Atoms that define each rigid group's frame, for ground-truth frames (Suppl. Alg. 21).

  Returns names [21, 8, 3] (object), their atom37 indices [21, 8, 3], the group-exists mask
  [21, 8], the is-ambiguous mask [21, 8], and the 180-degree x-axis flips [21, 8, 3, 3] that
  give the alternative frames of ambiguous groups (always the residue's last chi group).
  Frames are built as from_three_points(names[0] on -x, names[1] origin, names[2] in xy).
  """
  n_types = residues.restype_num + 1
  names = np.full((n_types, NUM_RIGID_GROUPS, 3), '', dtype=object)
  names[:, 0] = ['C', 'CA', 'N']
  names[:, 3] = ['CA', 'C', 'O']
  mask = np.zeros((n_types, NUM_RIGID_GROUPS), np.float32)
  mask[:, 0] = mask[:, 3] = 1.0
  for restype in range(residues.restype_num):
    for chi, quad in enumerate(chi_angles_atoms[residues.resnames[restype]]):
      names[restype, 4 + chi] = quad[1:]
      mask[restype, 4 + chi] = 1.0
  index = np.vectorize(lambda n: atoms.atom_order.get(n, 0))(names).astype(np.int64)

  ambiguous = np.zeros((n_types, NUM_RIGID_GROUPS), np.float32)
  flips = np.tile(np.eye(3, dtype=np.float32), (n_types, NUM_RIGID_GROUPS, 1, 1))
  for resname in atoms.residue_atom_renaming_swaps:
    restype = residues.resname_to_idx[resname]
    group = 4 + len(chi_angles_atoms[resname]) - 1
    ambiguous[restype, group] = 1.0
    flips[restype, group] = np.diag([1.0, -1.0, -1.0])
  return names, index, mask, ambiguous, flips


(restype_rigidgroup_base_atom_names, restype_rigidgroup_base_atom37_idx,
 restype_rigidgroup_mask, restype_rigidgroup_is_ambiguous,
 restype_rigidgroup_ambiguity_rots) = map(_readonly, _make_rigidgroup_base_atoms())
