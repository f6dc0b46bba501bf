"""Quaternions <-> rotation matrices (pure jnp, batched over leading dims).

Convention: a quaternion is an array [..., 4] ordered (w, x, y, z) = (real, i, j, k),
the same order as AF2's `quat_affine`. The unit quaternion q acts on a vector v as
q (0, v) q*, giving the rotation matrix R(q) whose columns are the rotated axes
(see CONVENTIONS.md). q and -q are the same rotation; `standardize` picks w >= 0.

AF2's backbone update (Jumper et al. 2021, Suppl. Alg. 23, lines 2-3) predicts
(b, c, d) and uses the NON-unit quaternion (1, b, c, d), normalised:
  `quat_to_rot(jnp.concatenate([jnp.ones_like(bcd[..., :1]), bcd], -1), normalize=True)`.

Shapes: Q = [..., 4] quaternions, R = [..., 3, 3] rotation matrices.
"""

from __future__ import annotations

import jax.numpy as jnp

from alphafold_jax.geometry.rigid import Rigid


def quat_normalize(q: jnp.ndarray, eps: float = 1e-12) -> jnp.ndarray:
  """q / |q| for q [..., 4] (eps guards the all-zero quaternion)."""
  return q / jnp.sqrt(jnp.maximum(jnp.sum(q * q, axis=-1, keepdims=True), eps))


def standardize(q: jnp.ndarray) -> jnp.ndarray:
  """Canonical sign: flip q -> -q where w < 0 (q and -q are the same rotation)."""
  return jnp.where(q[..., :1] < 0, -q, q)


def quat_conjugate(q: jnp.ndarray) -> jnp.ndarray:
  """(w, x, y, z) -> (w, -x, -y, -z); the inverse rotation for unit q."""
  return q * jnp.array([1., -1., -1., -1.], dtype=q.dtype)


def quat_multiply(q1: jnp.ndarray, q2: jnp.ndarray) -> jnp.ndarray:
  """Hamilton product q1 * q2 (rotation q2 applied first, then q1).

  quat_to_rot(q1 * q2) == quat_to_rot(q1) @ quat_to_rot(q2).
  """
  w1, x1, y1, z1 = jnp.moveaxis(q1, -1, 0)
  w2, x2, y2, z2 = jnp.moveaxis(q2, -1, 0)
  return jnp.stack([
      w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
      w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
      w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
      w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
  ], axis=-1)  # [..., 4]


def quat_multiply_by_vec(q: jnp.ndarray, v: jnp.ndarray) -> jnp.ndarray:
  """q * (0, v) for a pure-vector quaternion v [..., 3] (used by AF2's QuatAffine)."""
  return quat_multiply(q, jnp.concatenate([jnp.zeros_like(v[..., :1]), v], -1))


def quat_to_rot(q: jnp.ndarray, normalize: bool = True) -> jnp.ndarray:
  """Quaternion [..., 4] (w, x, y, z) -> rotation matrix [..., 3, 3].

  Uses the homogeneous (degree-2) form, so with `normalize=False` a quaternion of
  norm s gives s^2 times a rotation. `normalize=True` (default) divides by |q|
  first, which is what the backbone update with q = (1, b, c, d) needs.
  """
  if normalize:
    q = quat_normalize(q)
  w, x, y, z = jnp.moveaxis(q, -1, 0)
  ww, xx, yy, zz = w * w, x * x, y * y, z * z
  wx, wy, wz = w * x, w * y, w * z
  xy, xz, yz = x * y, x * z, y * z
  rows = [
      [ww + xx - yy - zz, 2 * (xy - wz), 2 * (xz + wy)],
      [2 * (xy + wz), ww - xx + yy - zz, 2 * (yz - wx)],
      [2 * (xz - wy), 2 * (yz + wx), ww - xx - yy + zz],
  ]
  return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)  # [..., 3, 3]


def rot_to_quat(rot: jnp.ndarray, canonical: bool = True) -> jnp.ndarray:
  """Rotation matrix [..., 3, 3] -> unit quaternion [..., 4] (w, x, y, z).

  Shepperd's method: of the four ways to read q off R, use the one whose pivot
  (1 + trace, or 1 + 2 R_ii - trace) is largest, so no division by a small number
  occurs anywhere (including rotations by ~pi). Branch-free and differentiable:
  the pivot is selected before normalising, and the selected row has norm >= 1.
  A slightly non-orthogonal input gives the nearest-ish unit quaternion.

  DISCREPANCY: AF2's `quat_affine.rot_to_quat` takes the top eigenvector of a 4x4
  symmetric matrix (eigh, expensive on accelerators); the result is the same
  rotation up to sign.
  """
  r = rot
  xx, xy, xz = r[..., 0, 0], r[..., 0, 1], r[..., 0, 2]
  yx, yy, yz = r[..., 1, 0], r[..., 1, 1], r[..., 1, 2]
  zx, zy, zz = r[..., 2, 0], r[..., 2, 1], r[..., 2, 2]
  tr = xx + yy + zz
  # Row k = 4 q_k * (w, x, y, z); the diagonal entry is 4 q_k^2.
  cand = jnp.stack([
      jnp.stack([1 + tr, zy - yz, xz - zx, yx - xy], -1),
      jnp.stack([zy - yz, 1 + xx - yy - zz, xy + yx, xz + zx], -1),
      jnp.stack([xz - zx, xy + yx, 1 - xx + yy - zz, yz + zy], -1),
      jnp.stack([yx - xy, xz + zx, yz + zy, 1 - xx - yy + zz], -1),
  ], axis=-2)  # [..., 4, 4]
  diag = jnp.diagonal(cand, axis1=-2, axis2=-1)  # [..., 4]
  pick = jnp.argmax(diag, axis=-1)  # [...]
  row = jnp.take_along_axis(cand, pick[..., None, None], axis=-2)[..., 0, :]  # [..., 4]
  q = quat_normalize(row)
  return standardize(q) if canonical else q


def rigid_from_quat(quat: jnp.ndarray, trans: jnp.ndarray,
                    normalize: bool = True) -> Rigid:
  """(quaternion [..., 4], translation [..., 3]) -> Rigid."""
  return Rigid(rot=quat_to_rot(quat, normalize=normalize), trans=trans)


def rigid_to_quat(rigid: Rigid) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Rigid -> (quaternion [..., 4] with w >= 0, translation [..., 3])."""
  return rot_to_quat(rigid.rot), rigid.trans
