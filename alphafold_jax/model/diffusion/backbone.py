"""Backbone atoms from residue frames with AF2's ideal positions (angstrom).

`frames_to_backbone`: (N, CA, C). `frames_to_atom37`: N, CA, C, O and CB in the atom37 layout
(O from AF2's psi group with psi from the next residue's N; see its docstring).
The local coordinates are the backbone rigid group (group 0) entries of
`residue_constants.rigid_group_atom_positions` (Engh & Huber; AF2 Suppl. Table 2 / Alg. 24):
CA at the origin, C on the +x axis, N in the xy plane. Unknown residues (index 20) use ALA's.

Shapes: N = residues; frames Rigid [..., N] (angstrom), aatype [..., N] int,
backbone [..., N, 3, 3] with atom order (N, CA, C).
"""

from __future__ import annotations

from typing import Optional, Tuple

import jax.numpy as jnp
import numpy as np

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.geometry.torsions import torsion_sin_cos
from alphafold_jax.model import all_atom

BACKBONE_ATOMS = ('N', 'CA', 'C')


def ideal_backbone_table() -> np.ndarray:
  """[21, 3, 3] local (N, CA, C) positions per restype (AF2 order; UNK = ALA)."""
  table = np.zeros((len(rc.restypes) + 1, 3, 3), np.float32)
  for index, letter in enumerate(list(rc.restypes) + ['A']):
    positions = {name: xyz for name, group, xyz in
                 rc.rigid_group_atom_positions[rc.restype_1to3[letter]] if group == 0}
    table[index] = [positions[name] for name in BACKBONE_ATOMS]
  return table


def frames_to_backbone(frames: Rigid, aatype: Optional[jnp.ndarray] = None,
                       mask: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """Global (N, CA, C) coordinates [..., N, 3, 3]; padded residues (mask 0) set to 0.

  aatype None uses alanine geometry (the backbone differs by < 0.02 angstrom between types).
  """
  table = jnp.asarray(ideal_backbone_table())  # [21, 3, 3]
  if aatype is None:
    local = jnp.broadcast_to(table[0], (*frames.shape, 3, 3))  # [..., N, 3, 3]
  else:
    if tuple(aatype.shape) != tuple(frames.shape):
      raise ValueError(f'frames_to_backbone: aatype {aatype.shape} vs frames {frames.shape}')
    local = table[jnp.clip(aatype, 0, 20)]  # [..., N, 3, 3]
  per_atom = Rigid(rot=frames.rot[..., None, :, :], trans=frames.trans[..., None, :])
  atoms = per_atom.apply(local)  # [..., N, 3 atoms, 3]
  if mask is not None:
    atoms = atoms * mask.astype(atoms.dtype)[..., None, None]
  return atoms


# atom37 slots the diffusion model places: the backbone group (N, CA, C, CB; CB where the
# residue type has one) and O from the psi group.
BACKBONE_ATOM37 = ('N', 'CA', 'C', 'O', 'CB')


def psi_sin_cos(backbone: jnp.ndarray, mask: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """(sin, cos) of psi_i = dihedral(N_i, CA_i, C_i, N_{i+1}) from (N, CA, C) [N, 3, 3] -> [N, 2].

  The C-terminal residue (and any residue whose successor is masked out) has no N_{i+1}: it
  gets the psi of its predecessor (0 for a chain of one residue).
  """
  n_next = jnp.roll(backbone[:, 0], -1, axis=0)  # [N, 3]  N_{i+1}
  sc = torsion_sin_cos(backbone[:, 0], backbone[:, 1], backbone[:, 2], n_next)  # [N, 2]
  m = jnp.ones(backbone.shape[:1], jnp.float32) if mask is None else mask.astype(jnp.float32)
  has_next = m * jnp.roll(m, -1).at[-1].set(0.)  # [N]
  previous = jnp.concatenate([jnp.array([[0., 1.]], sc.dtype), sc[:-1]], axis=0)  # psi_{i-1}
  previous_ok = jnp.concatenate([jnp.zeros((1,), jnp.float32), has_next[:-1]])  # [N]
  fallback = jnp.where(previous_ok[:, None] > 0, previous, jnp.array([0., 1.], sc.dtype))
  return jnp.where(has_next[:, None] > 0, sc, fallback)


def frames_to_atom37(frames: Rigid, aatype: jnp.ndarray, mask: Optional[jnp.ndarray] = None
                     ) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Backbone atoms N, CA, C, O (and CB where defined) of frames Rigid [N] (angstrom) in the
  atom37 layout: (positions [N, 37, 3], atom mask [N, 37]); other slots and masked residues 0.

  AF2's all-atom construction (Suppl. Alg. 24, `model.all_atom`) with idealised geometry
  (Engh & Huber): N, CA, C and CB are in the backbone group, so they follow from the frame
  alone; O is in the psi group, placed with psi computed from the next residue's N
  (`psi_sin_cos`, the torsion N_i-CA_i-C_i-N_{i+1}), so O is anti to N_{i+1} in the peptide
  plane of a trans peptide. Unknown residues (20) use ALA's geometry without CB.
  """
  if tuple(aatype.shape) != tuple(frames.shape) or len(frames.shape) != 1:
    raise ValueError(f'frames_to_atom37: aatype {aatype.shape} vs frames {frames.shape} (1-D)')
  n = frames.shape[0]
  known = jnp.clip(aatype, 0, 20)
  build_type = jnp.where(known == 20, 0, known)  # UNK -> ALA geometry
  psi = psi_sin_cos(frames_to_backbone(frames, build_type), mask)  # [N, 2]
  # AF2's psi input is the torsion N-CA-C-O (= psi + pi) mirrored (x -1 on sin and cos,
  # geometry/torsions.py), i.e. psi itself; the other torsions do not move N, CA, C, O, CB.
  torsions = jnp.tile(jnp.array([0., 1.], jnp.float32), (n, 7, 1))  # [N, 7, 2]
  torsions = torsions.at[:, 2].set(psi)
  atoms = all_atom.compute_all_atom_positions(build_type, frames, torsions)
  keep = np.zeros(37, np.float32)
  keep[[rc.atom_order[a] for a in BACKBONE_ATOM37]] = 1.
  atom_mask = all_atom.atom37_mask(known) * keep  # [N, 37]  (UNK: AF2's mask is empty)
  atom_mask = atom_mask.at[:, :3].set(1.).at[:, rc.atom_order['O']].set(1.)
  if mask is not None:
    atom_mask = atom_mask * mask.astype(atom_mask.dtype)[:, None]
  return atoms['atom37_positions'] * atom_mask[..., None], atom_mask
