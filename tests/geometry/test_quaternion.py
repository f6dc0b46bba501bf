"""Quaternion <-> matrix conversions vs scipy and the AF2 oracle; round trips."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation

from alphafold_jax.geometry import quaternion as quat
from tests.oracle import requires_oracle

pytestmark = requires_oracle

_to_rot = jax.jit(quat.quat_to_rot, static_argnames='normalize')
_to_quat = jax.jit(quat.rot_to_quat)


def _random_quats(rng, n):
  q = rng.normal(size=(n, 4))
  return q / np.linalg.norm(q, axis=-1, keepdims=True)


def test_quat_to_rot_matches_scipy_and_oracle():
  from alphafold.model import quat_affine  # oracle, test-only
  rng = np.random.default_rng(0)
  q = _random_quats(rng, 13)  # (w, x, y, z)
  ours = np.asarray(_to_rot(jnp.asarray(q, jnp.float32)))
  ref = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()  # scipy is scalar-last
  np.testing.assert_allclose(ours, ref, atol=1e-5)
  oracle = np.array(quat_affine.quat_to_rot(jnp.asarray(q, jnp.float32)))  # [3, 3, 13]
  np.testing.assert_allclose(ours, np.moveaxis(oracle, -1, 0), atol=1e-5)
  np.testing.assert_allclose(np.linalg.det(ours), 1., atol=1e-5)


def test_non_unit_backbone_update_quaternion():
  """AF2 backbone update uses (1, b, c, d), normalised (Suppl. Alg. 23)."""
  rng = np.random.default_rng(1)
  bcd = rng.normal(size=(7, 3)) * 2.
  q = np.concatenate([np.ones((7, 1)), bcd], -1)
  ours = np.asarray(_to_rot(jnp.asarray(q, jnp.float32), normalize=True))
  ref = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()  # scipy normalises too
  np.testing.assert_allclose(ours, ref, atol=1e-5)
  # without normalisation the homogeneous form scales by |q|^2
  raw = np.asarray(_to_rot(jnp.asarray(q, jnp.float32), normalize=False))
  np.testing.assert_allclose(raw, ref * np.sum(q * q, -1)[:, None, None], rtol=1e-4, atol=1e-4)


def test_rot_to_quat_roundtrip_including_near_pi():
  rng = np.random.default_rng(2)
  q = _random_quats(rng, 11)
  # add rotations by ~pi about random axes and exactly pi about coordinate axes,
  # where the w-pivot fails and Shepperd's other pivots are needed.
  axes = rng.normal(size=(5, 3))
  axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
  ang = np.array([np.pi, np.pi - 1e-4, np.pi - 1e-2, 1e-6, 0.])
  q_pi = np.concatenate([np.cos(ang / 2)[:, None], np.sin(ang / 2)[:, None] * axes], -1)
  q_axes = np.array([[0., 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
  q = np.concatenate([q, q_pi, q_axes])
  rot = Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()
  back = np.asarray(_to_quat(jnp.asarray(rot, jnp.float32)))
  # same rotation up to sign; canonical w >= 0
  assert (back[:, 0] >= 0).all()
  sign = np.sign(np.sum(back * q, -1, keepdims=True))
  np.testing.assert_allclose(back, sign * q, atol=2e-5)
  np.testing.assert_allclose(np.linalg.norm(back, axis=-1), 1., atol=1e-6)
  again = np.asarray(_to_rot(jnp.asarray(back)))
  np.testing.assert_allclose(again, rot, atol=2e-5)


def test_rot_to_quat_equals_oracle_up_to_sign():
  from alphafold.model import quat_affine  # oracle, test-only
  rng = np.random.default_rng(3)
  rot = Rotation.random(7, random_state=rng).as_matrix().astype(np.float32)
  ours = np.asarray(_to_quat(jnp.asarray(rot)))
  oracle = np.asarray(quat_affine.rot_to_quat(jnp.asarray(rot), unstack_inputs=True))
  sign = np.sign(np.sum(ours * oracle, -1, keepdims=True))
  np.testing.assert_allclose(ours, sign * oracle, atol=1e-4)


def test_multiply_matches_matrix_product_and_oracle():
  from alphafold.model import quat_affine  # oracle, test-only
  rng = np.random.default_rng(4)
  q1 = jnp.asarray(_random_quats(rng, 5), jnp.float32)
  q2 = jnp.asarray(_random_quats(rng, 5), jnp.float32)
  prod = quat.quat_multiply(q1, q2)
  np.testing.assert_allclose(quat.quat_to_rot(prod),
                             quat.quat_to_rot(q1) @ quat.quat_to_rot(q2), atol=1e-5)
  np.testing.assert_allclose(prod, quat_affine.quat_multiply(q1, q2), atol=1e-6)
  v = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
  np.testing.assert_allclose(quat.quat_multiply_by_vec(q1, v),
                             quat_affine.quat_multiply_by_vec(q1, v), atol=1e-6)
  # conjugate is the inverse
  ident = quat.quat_multiply(q1, quat.quat_conjugate(q1))
  np.testing.assert_allclose(ident, np.broadcast_to([1., 0, 0, 0], (5, 4)), atol=1e-6)


def test_rigid_quat_roundtrip_and_gradient():
  rng = np.random.default_rng(5)
  q = jnp.asarray(_random_quats(rng, 3), jnp.float32)
  t = jnp.asarray(rng.normal(size=(3, 3)), jnp.float32)
  r = quat.rigid_from_quat(q, t)
  q2, t2 = quat.rigid_to_quat(r)
  np.testing.assert_allclose(quat.quat_to_rot(q2), r.rot, atol=1e-5)
  np.testing.assert_array_equal(t2, t)
  # gradients of rot_to_quat are finite at the identity and at a pi rotation
  grad_fn = jax.jit(jax.grad(lambda x: jnp.sum(quat.rot_to_quat(x) * jnp.arange(1., 5.))))
  for m in (jnp.eye(3), jnp.diag(jnp.array([1., -1., -1.]))):
    assert np.isfinite(np.asarray(grad_fn(m))).all()
