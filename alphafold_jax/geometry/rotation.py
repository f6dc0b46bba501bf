"""Axis-angle exp / log maps on SO(3) (pure jnp, batched over leading dims).

A rotation vector ("rotvec", element of so(3) ~ R^3) v = theta * axis, |axis| = 1,
theta in [0, pi], is mapped to the matrix rotating by theta about `axis` (right-hand
rule) by the exponential map (Rodrigues' formula)

  exp(v) = I + sin(theta)/theta K + (1 - cos(theta))/theta^2 K^2,   K = hat(v),

and back by the logarithm. Both are numerically stable near theta = 0 (Taylor
series, finite gradients at exactly 0) and the log is stable near theta = pi
(computed through Shepperd's quaternion, see quaternion.py).

The IGSO3 distribution lives in so3.py (diffusion); this file only has the maps.
Shapes: V = [..., 3] rotation vectors, R = [..., 3, 3] rotation matrices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from alphafold_jax.geometry import quaternion

# Below this squared angle the Taylor series are used (error < 1e-12 there).
_SMALL_SQ = 1e-4


def hat(v: jnp.ndarray) -> jnp.ndarray:
  """[..., 3] -> skew-symmetric [..., 3, 3] with hat(v) @ u == cross(v, u)."""
  x, y, z = jnp.moveaxis(v, -1, 0)
  o = jnp.zeros_like(x)
  return jnp.stack([
      jnp.stack([o, -z, y], -1),
      jnp.stack([z, o, -x], -1),
      jnp.stack([-y, x, o], -1),
  ], axis=-2)  # [..., 3, 3]


def vee(m: jnp.ndarray) -> jnp.ndarray:
  """Inverse of `hat` on the skew part: [..., 3, 3] -> [..., 3]."""
  return 0.5 * jnp.stack([
      m[..., 2, 1] - m[..., 1, 2],
      m[..., 0, 2] - m[..., 2, 0],
      m[..., 1, 0] - m[..., 0, 1],
  ], axis=-1)


def _safe_sqrt(x: jnp.ndarray, small: jnp.ndarray) -> jnp.ndarray:
  """sqrt(x) where not `small`, else 1 (keeps gradients finite in the unused branch)."""
  return jnp.sqrt(jnp.where(small, jnp.ones_like(x), x))


def rotvec_to_rot(rotvec: jnp.ndarray) -> jnp.ndarray:
  """Exponential map so(3) -> SO(3): rotvec [..., 3] -> rotation matrix [..., 3, 3].

  Differentiable everywhere, including rotvec = 0 (gradient = hat of the tangent).
  """
  theta_sq = jnp.sum(rotvec * rotvec, axis=-1)  # [...]
  small = theta_sq < _SMALL_SQ
  theta = _safe_sqrt(theta_sq, small)
  # a = sin(t)/t ; b = (1 - cos t)/t^2 = 0.5 * (sin(t/2) / (t/2))^2 (no cancellation).
  a_big = jnp.sin(theta) / theta
  half = 0.5 * theta
  b_big = 0.5 * jnp.square(jnp.sin(half) / half)
  a_small = 1. - theta_sq / 6. + theta_sq * theta_sq / 120.
  b_small = 0.5 - theta_sq / 24. + theta_sq * theta_sq / 720.
  a = jnp.where(small, a_small, a_big)[..., None, None]
  b = jnp.where(small, b_small, b_big)[..., None, None]
  k = hat(rotvec)  # [..., 3, 3]
  eye = jnp.eye(3, dtype=rotvec.dtype)
  return eye + a * k + b * jnp.einsum('...ij,...jk->...ik', k, k)


def axis_angle_to_rot(axis: jnp.ndarray, angle: jnp.ndarray) -> jnp.ndarray:
  """Rotation by `angle` [...] (radians) about `axis` [..., 3] (normalised here)."""
  axis = axis / jnp.linalg.norm(axis, axis=-1, keepdims=True)
  return rotvec_to_rot(axis * jnp.asarray(angle)[..., None])


def quat_to_rotvec(q: jnp.ndarray) -> jnp.ndarray:
  """Unit quaternion [..., 4] (w, x, y, z) -> rotvec [..., 3] with angle in [0, pi]."""
  q = quaternion.standardize(q)
  w, xyz = q[..., 0], q[..., 1:]
  n_sq = jnp.sum(xyz * xyz, axis=-1)  # sin^2(theta/2)
  small = n_sq < _SMALL_SQ
  n = _safe_sqrt(n_sq, small)
  scale_big = 2. * jnp.arctan2(n, w) / n  # theta / sin(theta/2)
  # theta/sin(theta/2) with s = n/w: 2 atan(s)/n = (2/w)(1 - s^2/3 + s^4/5).
  # Here w >= sqrt(1 - 1e-4) > 0.99, so the division is safe.
  w_safe = jnp.where(small, w, jnp.ones_like(w))
  s_sq = n_sq / jnp.square(w_safe)
  scale_small = (2. / w_safe) * (1. - s_sq / 3. + s_sq * s_sq / 5.)
  scale = jnp.where(small, scale_small, scale_big)
  return xyz * scale[..., None]


def rotvec_to_quat(rotvec: jnp.ndarray) -> jnp.ndarray:
  """rotvec [..., 3] -> unit quaternion [..., 4] (w, x, y, z)."""
  theta_sq = jnp.sum(rotvec * rotvec, axis=-1)
  small = theta_sq < _SMALL_SQ
  theta = _safe_sqrt(theta_sq, small)
  # sin(t/2)/t, series 1/2 - t^2/48 + t^4/3840.
  s = jnp.where(small, 0.5 - theta_sq / 48. + theta_sq * theta_sq / 3840.,
                jnp.sin(0.5 * theta) / theta)
  w = jnp.where(small, 1. - theta_sq / 8. + theta_sq * theta_sq / 384.,
                jnp.cos(0.5 * theta))
  return jnp.concatenate([w[..., None], rotvec * s[..., None]], axis=-1)


def rot_to_rotvec(rot: jnp.ndarray) -> jnp.ndarray:
  """Logarithm SO(3) -> so(3): rotation matrix [..., 3, 3] -> rotvec [..., 3].

  The angle is in [0, pi]; at exactly pi the axis sign is arbitrary (both are
  valid logs). Goes through Shepperd's quaternion, so it is accurate near pi too.
  """
  return quat_to_rotvec(quaternion.rot_to_quat(rot))


def rotation_angle(rot: jnp.ndarray) -> jnp.ndarray:
  """Angle in [0, pi] of rotation matrices [..., 3, 3].

  atan2(|vee(R - R^T)|, (tr R - 1) / 2): accurate near 0 and near pi, unlike
  arccos of the trace. The gradient at exactly the identity is set to 0.
  """
  s = vee(rot)  # sin(theta) * axis
  s_sq = jnp.sum(s * s, axis=-1)
  zero = s_sq <= 0.
  sin_t = jnp.where(zero, 0., _safe_sqrt(s_sq, zero))
  cos_t = 0.5 * (jnp.trace(rot, axis1=-2, axis2=-1) - 1.)
  return jnp.arctan2(sin_t, cos_t)


def relative_angle(rot_a: jnp.ndarray, rot_b: jnp.ndarray) -> jnp.ndarray:
  """Geodesic distance (radians) between rotations: angle of a^T b."""
  return rotation_angle(jnp.einsum('...ji,...jk->...ik', rot_a, rot_b))


def random_rotation(key: jax.Array, shape=(), dtype=jnp.float32) -> jnp.ndarray:
  """Haar-uniform random rotation matrices [*shape, 3, 3] (normalised Gaussian quaternions)."""
  q = jax.random.normal(key, (*shape, 4), dtype)
  return quaternion.quat_to_rot(q, normalize=True)
