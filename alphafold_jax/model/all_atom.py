"""All-atom coordinates from backbone frames and torsion angles (forward direction).

Jumper et al. 2021, Suppl. Alg. 24 "computeAllAtomCoordinates" with Alg. 25 "makeRotX":

  torsions (sin, cos) x 7  ->  8 rigid-group frames per residue  ->  atom14 positions
  ->  atom37 positions (scatter by residue type).

Rigid groups (AF2 order): 0 backbone, 1 pre-omega, 2 phi, 3 psi, 4 chi1, 5 chi2, 6 chi3,
7 chi4. Torsion order in the [N, 7, 2] input: omega, phi, psi, chi1..chi4; each entry is
(sin, cos). Frames are `Rigid`s in whatever length unit the backbone frames carry; the
literature atom positions are in angstrom, so pass backbone frames in angstrom.

Shapes: N = residues. aatype [N] int in 0..20 (20 = UNK; larger values are clipped to 20,
as AF2's gather does).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.geometry.rigid import Rigid


def _gather_restype(table: np.ndarray, aatype: jnp.ndarray) -> jnp.ndarray:
  """table [21, ...] indexed by aatype [N] -> [N, ...] (out-of-range types clipped)."""
  return jnp.take(jnp.asarray(table), aatype.astype(jnp.int32), axis=0, mode='clip')


def _check_aatype(aatype: jnp.ndarray, n: int, what: str):
  if aatype.ndim != 1 or aatype.shape[0] != n:
    raise ValueError(f'{what}: aatype must have shape [{n}], got {aatype.shape}')


def make_rot_x(sin_cos: jnp.ndarray) -> jnp.ndarray:
  """Rotations about the x axis from (sin, cos) [..., 2] -> [..., 3, 3] (Suppl. Alg. 25).

  The input is used as given (AF2 does not re-normalise here).
  """
  s, c = sin_cos[..., 0], sin_cos[..., 1]
  zero, one = jnp.zeros_like(s), jnp.ones_like(s)
  rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
  return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)  # [..., 3, 3]


def torsion_angles_to_frames(aatype: jnp.ndarray, backbone_frames: Rigid,
                             torsion_angles_sin_cos: jnp.ndarray) -> Rigid:
  """Rigid-group frames in the global frame (Suppl. Alg. 24 lines 1-10).

  Args:
    aatype: [N] residue types.
    backbone_frames: Rigid [N], backbone (group 0) frame -> global.
    torsion_angles_sin_cos: [N, 7, 2] (sin, cos) of omega, phi, psi, chi1..chi4.
  Returns:
    Rigid [N, 8]: each rigid group's frame -> global.
  """
  n = backbone_frames.shape[0] if backbone_frames.shape else -1
  if backbone_frames.rot.ndim != 3 or torsion_angles_sin_cos.shape != (n, 7, 2):
    raise ValueError(
        'torsion_angles_to_frames expects backbone_frames Rigid [N] and torsions [N, 7, 2]; '
        f'got frames {backbone_frames.shape} and torsions {torsion_angles_sin_cos.shape}')
  _check_aatype(aatype, n, 'torsion_angles_to_frames')
  dtype = torsion_angles_sin_cos.dtype

  # Literature frame of each group relative to its parent group (backbone for 0-4,
  # the previous chi group for chi2-chi4).
  default = Rigid.from_tensor_4x4(
      _gather_restype(rc.restype_rigid_group_default_frame, aatype).astype(dtype))  # [N, 8]

  # Group 0 (backbone) gets the identity rotation: prepend (sin, cos) = (0, 1).
  identity_sc = jnp.broadcast_to(jnp.array([0.0, 1.0], dtype), (n, 1, 2))
  sin_cos = jnp.concatenate([identity_sc, torsion_angles_sin_cos], axis=1)  # [N, 8, 2]
  torsion_rot = Rigid(rot=make_rot_x(sin_cos), trans=jnp.zeros((n, 8, 3), dtype))  # [N, 8]

  # group -> parent group: default frame first rotated about its own x axis.
  to_parent = default @ torsion_rot  # [N, 8]

  # Chain chi2..chi4 to the backbone through the preceding chi frames.
  chi1 = to_parent[:, 4]
  chi2 = chi1 @ to_parent[:, 5]
  chi3 = chi2 @ to_parent[:, 6]
  chi4 = chi3 @ to_parent[:, 7]
  to_backbone = Rigid(
      rot=jnp.concatenate([to_parent.rot[:, :5], chi2.rot[:, None], chi3.rot[:, None],
                           chi4.rot[:, None]], axis=1),  # [N, 8, 3, 3]
      trans=jnp.concatenate([to_parent.trans[:, :5], chi2.trans[:, None],
                             chi3.trans[:, None], chi4.trans[:, None]], axis=1))  # [N, 8, 3]

  return backbone_frames.map(lambda x: x[:, None]) @ to_backbone  # [N, 8]


def frames_to_atom14_positions(aatype: jnp.ndarray, group_frames: Rigid) -> jnp.ndarray:
  """Place each atom's literature position in its rigid group's frame (Alg. 24 line 11).

  Args:
    aatype: [N] residue types.
    group_frames: Rigid [N, 8] from `torsion_angles_to_frames`.
  Returns:
    [N, 14, 3] atom14 positions; atoms a residue type does not have are zero.
  """
  if len(group_frames.shape) != 2 or group_frames.shape[1] != 8:
    raise ValueError(f'frames_to_atom14_positions expects Rigid [N, 8], got {group_frames.shape}')
  n = group_frames.shape[0]
  _check_aatype(aatype, n, 'frames_to_atom14_positions')
  dtype = group_frames.trans.dtype
  group_idx = _gather_restype(rc.restype_atom14_to_rigid_group, aatype)  # [N, 14]
  atom_frames = Rigid(
      rot=jnp.take_along_axis(group_frames.rot, group_idx[:, :, None, None], axis=1),  # [N,14,3,3]
      trans=jnp.take_along_axis(group_frames.trans, group_idx[:, :, None], axis=1))  # [N, 14, 3]
  local = _gather_restype(rc.restype_atom14_rigid_group_positions, aatype).astype(dtype)
  mask = _gather_restype(rc.restype_atom14_mask, aatype).astype(dtype)  # [N, 14]
  return atom_frames.apply(local) * mask[..., None]  # [N, 14, 3]


def atom14_mask(aatype: jnp.ndarray) -> jnp.ndarray:
  """[N] -> [N, 14] float: which atom14 slots exist for each residue type."""
  return _gather_restype(rc.restype_atom14_mask, aatype)


def atom37_mask(aatype: jnp.ndarray) -> jnp.ndarray:
  """[N] -> [N, 37] float: which atom37 slots exist for each residue type."""
  return _gather_restype(rc.restype_atom37_mask, aatype)


def atom14_to_atom37(atom14_data: jnp.ndarray, aatype: jnp.ndarray) -> jnp.ndarray:
  """Scatter atom14 data [N, 14, ...] into the atom37 layout [N, 37, ...].

  Atom37 slots that the residue type does not have are zero (AF2's `atom14_to_atom37`
  with `residx_atom37_to_atom14` / `atom37_atom_exists` derived from aatype).
  """
  if atom14_data.ndim < 2 or atom14_data.shape[1] != 14:
    raise ValueError(f'atom14_to_atom37 expects [N, 14, ...], got {atom14_data.shape}')
  _check_aatype(aatype, atom14_data.shape[0], 'atom14_to_atom37')
  idx = _gather_restype(rc.restype_atom37_to_atom14, aatype)  # [N, 37]
  extra = atom14_data.ndim - 2
  idx = idx.reshape(idx.shape + (1,) * extra)
  out = jnp.take_along_axis(atom14_data, idx, axis=1)  # [N, 37, ...]
  exists = atom37_mask(aatype).astype(out.dtype)
  return out * exists.reshape(exists.shape + (1,) * extra)


def compute_all_atom_positions(aatype: jnp.ndarray, backbone_frames: Rigid,
                               torsion_angles_sin_cos: jnp.ndarray) -> dict:
  """Suppl. Alg. 24 end to end.

  Returns a dict with 'frames' Rigid [N, 8], 'atom14_positions' [N, 14, 3],
  'atom37_positions' [N, 37, 3], 'atom14_mask' [N, 14], 'atom37_mask' [N, 37].
  """
  frames = torsion_angles_to_frames(aatype, backbone_frames, torsion_angles_sin_cos)
  atom14 = frames_to_atom14_positions(aatype, frames)
  return {
      'frames': frames,
      'atom14_positions': atom14,
      'atom37_positions': atom14_to_atom37(atom14, aatype),
      'atom14_mask': atom14_mask(aatype),
      'atom37_mask': atom37_mask(aatype),
  }
