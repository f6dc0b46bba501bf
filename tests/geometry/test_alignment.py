"""Kabsch: recovers random rigid motions, masks, weights, reflections, batching."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.transform import Rotation

from alphafold_jax.common import protein
from alphafold_jax.geometry import alignment

_kabsch = jax.jit(alignment.kabsch)


def _ca(data_dir, name='structures/nano/1UBQ.pdb'):
  p = protein.from_file(data_dir / name)
  return p.atom_positions[p.atom_mask[:, 1] > 0, 1].astype(np.float32)


def test_recovers_random_rigid_motion(data_dir):
  x = _ca(data_dir)  # [76, 3]
  rng = np.random.default_rng(0)
  rot = Rotation.random(random_state=rng).as_matrix()
  trans = rng.normal(size=3) * 20.
  y = x @ rot.T + trans
  rigid, rmsd = _kabsch(jnp.asarray(x), jnp.asarray(y, jnp.float32))
  np.testing.assert_allclose(rigid.rot, rot, atol=1e-4)
  np.testing.assert_allclose(rigid.trans, trans, atol=1e-3)
  assert float(rmsd) < 1e-3
  np.testing.assert_allclose(np.linalg.det(np.asarray(rigid.rot)), 1., atol=1e-5)
  # the inverse direction gives the inverse rigid
  inv, _ = _kabsch(jnp.asarray(y, jnp.float32), jnp.asarray(x))
  np.testing.assert_allclose((inv @ rigid).rot, np.eye(3), atol=1e-4)


def test_mask_ignores_garbage_and_weights_matter(data_dir):
  x = _ca(data_dir)[:13]
  rng = np.random.default_rng(1)
  rot = Rotation.random(random_state=rng).as_matrix()
  y = x @ rot.T + np.array([1., 2., 3.])
  y[[2, 7, 11]] += rng.normal(size=(3, 3)) * 30.  # corrupt 3 points
  mask = np.ones(13, np.float32)
  mask[[2, 7, 11]] = 0.
  rigid, rmsd = _kabsch(jnp.asarray(x), jnp.asarray(y, jnp.float32), jnp.asarray(mask))
  np.testing.assert_allclose(rigid.rot, rot, atol=1e-4)
  assert float(rmsd) < 1e-3
  _, rmsd_all = _kabsch(jnp.asarray(x), jnp.asarray(y, jnp.float32), jnp.ones(13))
  assert float(rmsd_all) > 1.


def test_reflection_is_not_returned(data_dir):
  x = _ca(data_dir)[:11]
  mirrored = x * np.array([1., 1., -1.], np.float32)
  rigid, rmsd = _kabsch(jnp.asarray(x), jnp.asarray(mirrored))
  np.testing.assert_allclose(np.linalg.det(np.asarray(rigid.rot)), 1., atol=1e-5)
  assert float(rmsd) > 0.5  # a proper rotation cannot superpose a chiral mirror image


def test_batched_matches_loop_and_superpose(data_dir):
  x = _ca(data_dir)[:7]
  rng = np.random.default_rng(2)
  ys = np.stack([x @ Rotation.random(random_state=rng).as_matrix().T
                 + rng.normal(size=(7, 3)) * 0.5 for _ in range(5)]).astype(np.float32)
  xs = np.broadcast_to(x, ys.shape)
  rig, rmsd = _kabsch(jnp.asarray(xs), jnp.asarray(ys))
  assert rig.shape == (5,) and rmsd.shape == (5,)
  for i in range(5):
    ri, rmsd_i = _kabsch(jnp.asarray(x), jnp.asarray(ys[i]))
    np.testing.assert_allclose(rig.rot[i], ri.rot, atol=1e-4)
    np.testing.assert_allclose(rmsd[i], rmsd_i, atol=1e-4)
  moved, rmsd2 = alignment.superpose(xs, ys)
  direct = np.sqrt(np.mean(np.sum((np.asarray(moved) - ys) ** 2, -1), -1))
  np.testing.assert_allclose(rmsd2, direct, atol=1e-4)
  # the optimum: perturbing the rotation can only increase the RMSD
  small = Rotation.from_rotvec([0.01, 0., 0.]).as_matrix().astype(np.float32)
  worse = np.sqrt(np.mean(np.sum((np.asarray(moved) @ small.T - ys) ** 2, -1), -1))
  assert (worse >= direct - 1e-5).all()


def test_numpy_and_jnp_paths_agree():
  rng = np.random.default_rng(3)
  a = rng.normal(size=(3, 11, 3))
  b = rng.normal(size=(3, 11, 3))
  w = rng.uniform(size=(3, 11))
  rot_np, trans_np = alignment.kabsch_arrays(np, a, b, w)
  rig, _ = _kabsch(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), jnp.asarray(w))
  np.testing.assert_allclose(rot_np, rig.rot, atol=1e-4)
  np.testing.assert_allclose(trans_np, rig.trans, atol=1e-4)


def test_fully_masked_is_finite():
  rig, rmsd = _kabsch(jnp.ones((5, 3)), jnp.zeros((5, 3)), jnp.zeros(5))
  assert np.isfinite(np.asarray(rig.rot)).all() and float(rmsd) == 0.
