"""Diffusion losses: rotation score matching / geodesic, translation MSE, FAPE, EDM MSE."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.geometry import rotation
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.losses import diffusion as losses
from alphafold_jax.model.diffusion import edm, se3
from alphafold_jax.model.diffusion.config import (DiffusionLossConfig, EDMConfig,
                                                  SE3DiffusionConfig)

CFG = SE3DiffusionConfig()


def _frames(key, n, scale=6.):
  k1, k2 = jax.random.split(key)
  return Rigid(rot=rotation.random_rotation(k1, (n,)), trans=jax.random.normal(k2, (n, 3)) * scale)


@pytest.mark.parametrize('kind', ['score', 'geodesic'])
def test_se3_loss_zero_at_truth_positive_elsewhere_invariant_and_grad_safe(kind):
  n = 9
  mask = jnp.array([1.] * 7 + [0.] * 2)
  true = _frames(jax.random.PRNGKey(0), n)
  noisy = se3.forward_sample(jax.random.PRNGKey(1), true, 0.5, mask, CFG)
  pred = _frames(jax.random.PRNGKey(2), n)
  lcfg = DiffusionLossConfig(rotation_loss=kind)

  @jax.jit
  def loss_of(delta, pred, true, noisy):  # delta: rotvec + translation perturbation [N, 6]
    p = Rigid(rot=pred.rot @ rotation.rotvec_to_rot(delta[:, :3]), trans=pred.trans + delta[:, 3:])
    return losses.se3_diffusion_loss(p, true, noisy, 0.5, mask, CFG, lcfg)

  zero = jnp.zeros((n, 6))
  loss0, metrics0 = loss_of(zero, true, true, noisy)
  np.testing.assert_allclose(loss0, 0., atol=2e-3)  # FAPE eps: sqrt(1e-4) / 10
  grad0 = jax.jit(jax.grad(lambda d: loss_of(d, true, true, noisy)[0]))(zero)
  assert np.all(np.isfinite(grad0))
  loss1, metrics1 = loss_of(zero, pred, true, noisy)
  assert all(float(v) > 1e-3 for v in metrics1.values())
  # invariant under a global rigid motion of prediction, truth and noisy frames together
  g = _frames(jax.random.PRNGKey(3), 1)[0].map(lambda x: x[None])
  loss2, _ = loss_of(zero, g @ pred, g @ true, g @ noisy)
  np.testing.assert_allclose(loss2, loss1, rtol=1e-4)
  # padded residues do not matter
  pred_pad = Rigid(rot=pred.rot, trans=pred.trans.at[7:].add(100.))
  np.testing.assert_allclose(loss_of(zero, pred_pad, true, noisy)[0], loss1, rtol=1e-5)


def test_rotation_and_translation_terms_values():
  rot_a = rotation.random_rotation(jax.random.PRNGKey(4), (5,))
  angle = jnp.array([0.1, 0.5, 1.0, 2.0, 3.0])
  rot_b = rot_a @ rotation.axis_angle_to_rot(jnp.array([[0., 1., 1.]] * 5), angle)
  mask = jnp.array([1., 1., 1., 1., 0.])
  np.testing.assert_allclose(losses.rotation_geodesic_loss(rot_a, rot_b, mask),
                             np.mean(np.square([0.1, 0.5, 1.0, 2.0])), rtol=1e-4)
  a = jnp.arange(15.).reshape(5, 3)
  np.testing.assert_allclose(losses.translation_mse(a, a + jnp.array([3., 4., 0.]), mask, 0.1),
                             0.25, rtol=1e-5)


def test_edm_loss_alignment_weight_and_gradient():
  cfg = EDMConfig()
  x = jax.random.normal(jax.random.PRNGKey(5), (12, 3)) * 8.
  mask = jnp.array([1.] * 10 + [0.] * 2)
  motion = _frames(jax.random.PRNGKey(6), 1)[0]
  moved = motion.apply(x)
  np.testing.assert_allclose(losses.edm_loss(moved, x, 3., mask, cfg), 0., atol=1e-4)
  assert float(losses.edm_loss(moved, x, 3., mask, cfg, align=False)) > 1.
  noisy = x + jax.random.normal(jax.random.PRNGKey(7), x.shape)
  unaligned = losses.edm_loss(noisy, x, 3., mask, cfg, align=False)
  manual = edm.loss_weight(3., cfg) * np.sum(np.square(noisy - x)[:10]) / 30.
  np.testing.assert_allclose(unaligned, manual, rtol=1e-5)
  g = jax.grad(lambda y: losses.edm_loss(y, x, 3., mask, cfg))(noisy)
  assert np.all(np.isfinite(g)) and np.all(g[10:] == 0.)
  with pytest.raises(ValueError, match='rotation_loss'):
    DiffusionLossConfig(rotation_loss='l2')
