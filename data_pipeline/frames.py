"""NumPy rigid-frame helpers for structure labels (no jax).

Frames follow the convention of `alphafold_jax.geometry.rigid.Rigid` (see
alphafold_jax/geometry/CONVENTIONS.md), but as plain arrays because
`data_pipeline` never imports jax:

  rot:   [..., 3, 3]   columns are the frame's unit axes e1, e2, e3 in global coords
  trans: [..., 3]      frame origin in global coords (angstrom)

A frame maps local -> global as  x_global = rot @ x_local + trans.
Label layouts:
  flat12 [..., 12]: 9 row-major rotation entries, then 3 translation entries
                    (AF2's `rigidgroups_gt_frames`; `Rigid.from_tensor_flat12`).
  affine7 [..., 7]: unit quaternion (w, x, y, z) then translation
                    (AF2's `backbone_affine_tensor`, read by `QuatAffine.from_tensor`).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

# Regulariser added to squared norms before the square root (AF2 code uses 1e-8).
NORM_EPS = 1e-8


def robust_normalize(v: np.ndarray, eps: float = NORM_EPS) -> np.ndarray:
  """v / sqrt(|v|^2 + eps); a zero vector stays zero (no NaN). v: [..., 3]."""
  return v / np.sqrt(np.sum(v * v, axis=-1, keepdims=True) + eps)


def frames_from_three_points(
    point_on_neg_x_axis: np.ndarray, origin: np.ndarray,
    point_on_xy_plane: np.ndarray,
    eps: float = NORM_EPS) -> Tuple[np.ndarray, np.ndarray]:
  """Gram-Schmidt frame from three points (Suppl. Alg. 21 "rigidFrom3Points").

  e1 = normalise(origin - point_on_neg_x_axis)
  e2 = normalise(part of (point_on_xy_plane - origin) orthogonal to e1)
  e3 = e1 x e2
  Inputs [..., 3]; returns rot [..., 3, 3] (columns e1, e2, e3), trans [..., 3].

  DISCREPANCY: Alg. 21 takes (x1=N, x2=CA, x3=C) with e1 along C - CA; AF2's code
  calls this with (C, CA, N), i.e. e1 along CA - C, and afterwards mirrors the
  x and z axes of the backbone group (see `labels.atom37_to_frames`).
  Squared norms are regularised as sqrt(|v|^2 + eps) like AF2's code, so
  degenerate (masked) frames come out as zero matrices rather than NaN.
  """
  e1 = robust_normalize(origin - point_on_neg_x_axis, eps)  # [..., 3]
  v2 = point_on_xy_plane - origin
  e2 = robust_normalize(
      v2 - e1 * np.sum(e1 * v2, axis=-1, keepdims=True), eps)  # [..., 3]
  e3 = np.cross(e1, e2)
  rot = np.stack([e1, e2, e3], axis=-1)  # [..., 3, 3] columns are axes
  return rot, np.array(origin, copy=True)


def invert_apply(rot: np.ndarray, trans: np.ndarray,
                 points: np.ndarray) -> np.ndarray:
  """Global -> local: rot^T (points - trans). rot [...,3,3], points [...,3]."""
  return np.einsum('...ji,...j->...i', rot, points - trans)  # [..., 3]


def to_flat12(rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
  """rot [..., 3, 3], trans [..., 3] -> [..., 12] (row-major rot, then trans)."""
  flat_rot = rot.reshape(*rot.shape[:-2], 9)  # [..., 9]
  return np.concatenate([flat_rot, trans], axis=-1)  # [..., 12]


def from_flat12(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """[..., 12] -> (rot [..., 3, 3], trans [..., 3])."""
  return x[..., :9].reshape(*x.shape[:-1], 3, 3), x[..., 9:]


def to_tensor_4x4(rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
  """rot [..., 3, 3], trans [..., 3] -> homogeneous [..., 4, 4]."""
  out = np.zeros((*rot.shape[:-2], 4, 4), dtype=rot.dtype)
  out[..., :3, :3] = rot
  out[..., :3, 3] = trans
  out[..., 3, 3] = 1.
  return out


def rot_to_quaternion(rot: np.ndarray) -> np.ndarray:
  """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4] as (w, x, y, z).

  Uses the symmetric 4x4 (Bar-Itzhack) form: the quaternion is the eigenvector
  of the largest eigenvalue, which is robust for every rotation angle. The sign
  is fixed so that w >= 0. Rows of zeros (degenerate masked frames) give the
  identity quaternion (1, 0, 0, 0).
  """
  r = np.asarray(rot, dtype=np.float64)
  xx, xy, xz = r[..., 0, 0], r[..., 0, 1], r[..., 0, 2]
  yx, yy, yz = r[..., 1, 0], r[..., 1, 1], r[..., 1, 2]
  zx, zy, zz = r[..., 2, 0], r[..., 2, 1], r[..., 2, 2]
  # K is symmetric, [..., 4, 4]; quaternion order (w, x, y, z).
  k = np.stack([
      np.stack([xx + yy + zz, zy - yz, xz - zx, yx - xy], -1),
      np.stack([zy - yz, xx - yy - zz, xy + yx, xz + zx], -1),
      np.stack([xz - zx, xy + yx, yy - xx - zz, yz + zy], -1),
      np.stack([yx - xy, xz + zx, yz + zy, zz - xx - yy], -1),
  ], axis=-2) / 3.
  _, vecs = np.linalg.eigh(k)  # ascending eigenvalues; vecs [..., 4, 4]
  quat = vecs[..., :, -1]  # [..., 4]
  quat = quat * np.where(quat[..., :1] < 0, -1., 1.)
  degenerate = np.abs(r).sum(axis=(-1, -2)) < 1e-6  # zero matrices
  quat = np.where(degenerate[..., None], np.array([1., 0., 0., 0.]), quat)
  return quat


def quaternion_to_rot(quat: np.ndarray) -> np.ndarray:
  """Unit quaternions [..., 4] (w, x, y, z) -> rotation matrices [..., 3, 3]."""
  w, x, y, z = np.moveaxis(np.asarray(quat), -1, 0)
  rows = [
      [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
      [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
      [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
  ]
  return np.stack([np.stack(row, -1) for row in rows], -2)  # [..., 3, 3]
