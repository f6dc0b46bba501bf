"""Optimal rigid superposition (Kabsch 1976), weighted and masked, pure jnp.

Shapes: N = points, leading [...] batch dims broadcast.
  mobile, target: [..., N, 3]   weights (or a 0/1 mask): [..., N]

Returns a `Rigid` T (a proper rotation, det = +1) minimising
  sum_n w_n |T(mobile_n) - target_n|^2,
i.e. T maps mobile onto target, plus the weighted RMSD after superposition.
Masked points (weight 0) do not influence T; fully masked inputs give the identity
rotation and RMSD 0 rather than NaN.

Note: the gradient through the SVD is undefined when two singular values of the
covariance coincide (e.g. perfectly symmetric point sets); use it as a metric or
with stop_gradient, as AF2 does not backpropagate through superpositions.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from alphafold_jax.geometry.rigid import Rigid


def _weights(points: jnp.ndarray, weights) -> jnp.ndarray:
  if weights is None:
    return jnp.ones(points.shape[:-1], points.dtype)
  return jnp.asarray(weights, points.dtype)


def kabsch(mobile, target, weights=None, eps: float = 1e-8) -> tuple[Rigid, jnp.ndarray]:
  """Superpose `mobile` onto `target`. Returns (Rigid, rmsd [...]).

  `target` ~= Rigid.apply(mobile) in the least-squares sense. Reflections are
  excluded by flipping the sign of the smallest singular direction when
  det(V U^T) < 0.
  """
  mobile = jnp.asarray(mobile)
  target = jnp.asarray(target, mobile.dtype)
  if mobile.shape[-1] != 3 or target.shape[-1] != 3:
    raise ValueError(f'kabsch expects [..., N, 3] points, got {mobile.shape} and {target.shape}')
  return _kabsch(mobile, target, _weights(mobile, weights), eps)


@functools.partial(jax.jit, static_argnums=(3,))
def _kabsch(mobile, target, w, eps):
  rot, trans = kabsch_arrays(jnp, mobile, target, w, eps)
  rigid = Rigid(rot=rot, trans=trans)
  moved = rigid[..., None].apply(mobile)  # [..., N, 3]
  return rigid, weighted_rmsd(moved, target, w, eps)


def kabsch_arrays(xp, mobile, target, w, eps: float = 1e-8):
  """Kabsch core on raw arrays with array module `xp` (jax.numpy or numpy).

  mobile, target [..., N, 3], w [..., N] -> (rot [..., 3, 3], trans [..., 3]) with
  target ~= rot @ mobile + trans. NumPy lets host-side metric searches avoid
  per-shape compilation; the maths is this one function either way.
  """
  w_sum = xp.sum(w, axis=-1, keepdims=True)  # [..., 1]
  w_norm = w / xp.maximum(w_sum, eps)  # [..., N]
  mob_c = xp.einsum('...n,...nx->...x', w_norm, mobile)  # [..., 3]
  tgt_c = xp.einsum('...n,...nx->...x', w_norm, target)  # [..., 3]
  mob0 = mobile - mob_c[..., None, :]  # [..., N, 3]
  tgt0 = target - tgt_c[..., None, :]  # [..., N, 3]
  cov = xp.einsum('...n,...ni,...nj->...ij', w_norm, mob0, tgt0)  # [..., 3, 3]
  u, _, vt = xp.linalg.svd(cov)  # cov = u diag(s) vt
  # R = V diag(1, 1, d) U^T with d = det(V U^T) = det(V) det(U) (reflection fix).
  d = xp.sign(xp.linalg.det(u) * xp.linalg.det(vt))
  d = xp.where(d == 0, 1., d)
  flip = xp.stack([xp.ones_like(d), xp.ones_like(d), d], axis=-1)  # [..., 3]
  rot = xp.einsum('...ki,...k,...jk->...ij', vt, flip, u)  # [..., 3, 3]
  trans = tgt_c - xp.einsum('...ij,...j->...i', rot, mob_c)  # [..., 3]
  return rot, trans


def weighted_rmsd(a, b, weights=None, eps: float = 1e-8) -> jnp.ndarray:
  """sqrt(sum_n w_n |a_n - b_n|^2 / sum_n w_n) WITHOUT superposition. [..., N, 3] -> [...]."""
  a = jnp.asarray(a)
  b = jnp.asarray(b, a.dtype)
  w = _weights(a, weights)
  sq = jnp.sum(jnp.square(a - b), axis=-1)  # [..., N]
  msd = jnp.sum(w * sq, axis=-1) / jnp.maximum(jnp.sum(w, axis=-1), eps)
  return jnp.sqrt(jnp.maximum(msd, 0.))


def superpose(mobile, target, weights=None) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Returns (mobile moved onto target [..., N, 3], rmsd [...])."""
  rigid, rmsd = kabsch(mobile, target, weights)
  return rigid[..., None].apply(jnp.asarray(mobile)), rmsd  # [..., N, 3]
