"""SO(3) exp/log maps: scipy agreement, round trips near 0 and pi, gradients at 0."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation

from alphafold_jax.geometry import rotation

# One compiled program per function (eager mode would compile every primitive).
_exp = jax.jit(rotation.rotvec_to_rot)
_log = jax.jit(rotation.rot_to_rotvec)
_angle = jax.jit(rotation.rotation_angle)


def _rotvecs(rng):
  axes = rng.normal(size=(13, 3))
  axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
  angles = np.concatenate([
      rng.uniform(0., np.pi, 5),
      [0., 1e-7, 1e-4, 5e-3, 2e-2],  # around the series/closed-form switch
      [np.pi - 1e-2, np.pi - 1e-3, np.pi - 1e-5]])  # near pi
  return axes * angles[:, None]


def test_exp_matches_scipy():
  v = _rotvecs(np.random.default_rng(0))
  ours = np.asarray(_exp(jnp.asarray(v, jnp.float32)))
  np.testing.assert_allclose(ours, Rotation.from_rotvec(v).as_matrix(), atol=1e-6)
  np.testing.assert_allclose(rotation.hat(jnp.asarray(v[:3])) @ jnp.asarray(v[3:6, :, None]),
                             np.cross(v[:3], v[3:6])[..., None], atol=1e-5)


def test_log_exp_roundtrip():
  v = _rotvecs(np.random.default_rng(1))
  rot = Rotation.from_rotvec(v).as_matrix().astype(np.float32)
  log = np.asarray(_log(jnp.asarray(rot)))
  angle = np.linalg.norm(v, axis=-1)
  away_from_pi = angle < np.pi - 1e-2
  # log(exp(v)) == v for angles < pi (unique log) ...
  np.testing.assert_allclose(log[away_from_pi], v[away_from_pi], atol=2e-6)
  # ... and exp(log(R)) == R everywhere (near pi the axis sign may flip)
  np.testing.assert_allclose(_exp(jnp.asarray(log)), rot, atol=2e-5)
  np.testing.assert_allclose(np.linalg.norm(log, axis=-1), angle, atol=3e-4)
  ang = np.asarray(_angle(jnp.asarray(rot)))
  np.testing.assert_allclose(ang, angle, atol=3e-4)
  np.testing.assert_allclose(ang[:8], angle[:8], atol=2e-6)
  # quaternion path agrees
  roundtrip = jax.jit(lambda x: rotation.quat_to_rotvec(rotation.rotvec_to_quat(x)))
  np.testing.assert_allclose(roundtrip(jnp.asarray(v, jnp.float32))[away_from_pi],
                             v[away_from_pi], atol=2e-6)


def test_exact_pi_rotation_log():
  rot = Rotation.from_rotvec(np.pi * np.eye(3)).as_matrix().astype(np.float32)
  log = np.asarray(_log(jnp.asarray(rot)))
  np.testing.assert_allclose(np.abs(log), np.pi * np.eye(3), atol=1e-5)


def test_gradients_finite_and_correct_at_zero():
  # d exp(v)/dv at v = 0 is hat(e_k): finite, no NaN from the norm.
  jac = jax.jit(jax.jacfwd(rotation.rotvec_to_rot))(jnp.zeros(3))  # [3, 3, 3]
  for k in range(3):
    np.testing.assert_allclose(jac[..., k], rotation.hat(jnp.eye(3)[k]), atol=1e-6)
  jac_rev = jax.jit(jax.jacrev(rotation.rotvec_to_rot))(jnp.zeros(3))
  np.testing.assert_allclose(jac_rev, jac, atol=1e-6)
  # log at the identity: d log(exp(v)) / dv = I
  jl = jax.jit(jax.jacrev(lambda v: rotation.rot_to_rotvec(rotation.rotvec_to_rot(v))))(
      jnp.zeros(3))
  np.testing.assert_allclose(jl, np.eye(3), atol=1e-5)
  g = jax.jit(jax.grad(rotation.rotation_angle))(jnp.eye(3))
  assert np.isfinite(np.asarray(g)).all()
  # away from 0 the gradient of the angle matches a finite difference
  v = jnp.array([0.3, -0.2, 0.5])
  f = lambda v: rotation.rotation_angle(rotation.rotvec_to_rot(v))
  np.testing.assert_allclose(jax.jit(jax.grad(f))(v), v / jnp.linalg.norm(v), atol=1e-4)


def test_random_rotation_and_relative_angle():
  rots = jax.jit(rotation.random_rotation, static_argnums=1)(jax.random.PRNGKey(0), (5, 3))
  assert rots.shape == (5, 3, 3, 3)
  np.testing.assert_allclose(np.linalg.det(np.asarray(rots)), 1., atol=1e-5)
  a = Rotation.random(7, random_state=1).as_matrix().astype(np.float32)
  b = Rotation.random(7, random_state=2).as_matrix().astype(np.float32)
  ref = (Rotation.from_matrix(a).inv() * Rotation.from_matrix(b)).magnitude()
  rel = jax.jit(rotation.relative_angle)(jnp.asarray(a), jnp.asarray(b))
  np.testing.assert_allclose(rel, ref,
                             atol=1e-4)
