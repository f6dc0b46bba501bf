"""EDM coordinate diffusion: preconditioning, schedule, augmentation, sampler, network."""

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.model.diffusion import edm
from alphafold_jax.model.diffusion.config import EDMConfig
from alphafold_jax.model.diffusion.edm_network import (EDMBackboneNetwork, EDMNetworkConfig,
                                                       make_network_fn)
from tests.random_params import DIFFUSION_STD, random_params

CFG = EDMConfig()


def test_noise_levels_and_training_sigma():
  cfg = dataclasses.replace(CFG, num_steps=11)
  levels = np.asarray(edm.sampling_noise_levels(cfg))
  assert levels.shape == (12,)
  np.testing.assert_allclose([levels[0], levels[-1]], [16. * 160., 16. * 4e-4], rtol=1e-5)
  assert np.all(np.diff(levels) < 0)
  sig = edm.sample_training_sigma(jax.random.PRNGKey(0), (20000,), CFG)
  np.testing.assert_allclose(jnp.mean(jnp.log(sig / 16.)), -1.2, atol=0.03)
  np.testing.assert_allclose(jnp.std(jnp.log(sig / 16.)), 1.5, atol=0.03)


@pytest.mark.parametrize('sigma', [0.5, 16., 120.])
def test_preconditioning_unit_variance_and_optimal_gaussian_denoiser(sigma):
  sd = CFG.sigma_data
  k1, k2 = jax.random.split(jax.random.PRNGKey(1))
  x = sd * jax.random.normal(k1, (40000,))
  n = jax.random.normal(k2, (40000,))
  c_skip, c_out, c_in, _ = edm.preconditioning(sigma, CFG)
  np.testing.assert_allclose(jnp.var(c_in * (x + sigma * n)), 1., rtol=0.03)  # input
  target = (x - c_skip * (x + sigma * n)) / c_out  # F's training target
  np.testing.assert_allclose(jnp.var(target), 1., rtol=0.03)
  # For N(0, sd^2) data the optimal denoiser is c_skip * x_noisy, i.e. F = 0.
  d = edm.precondition(lambda xi, cn, b: jnp.zeros_like(xi), CFG)(x + sigma * n, sigma, {})
  np.testing.assert_allclose(d, sd ** 2 / (sd ** 2 + sigma ** 2) * (x + sigma * n), rtol=1e-5)
  np.testing.assert_allclose(edm.loss_weight(sigma, CFG), 1. / c_out ** 2, rtol=1e-5)


def test_augmentation_is_a_rigid_motion_of_centred_coordinates():
  x = jax.random.normal(jax.random.PRNGKey(2), (15, 3)) * 5. + 7.
  mask = jnp.array([1.] * 12 + [0.] * 3)
  y = edm.centre_random_augmentation(jax.random.PRNGKey(3), x, mask, trans_std=0.)
  np.testing.assert_allclose(jnp.mean(y[:12], 0), 0., atol=1e-4)
  d = lambda a: jnp.linalg.norm(a[:, None] - a[None], axis=-1)
  np.testing.assert_allclose(d(y[:12]), d(x[:12]), atol=1e-4)
  np.testing.assert_array_equal(y[12:], 0.)
  assert float(jnp.max(jnp.abs(y[:12] - (x[:12] - jnp.mean(x[:12], 0))))) > 0.1  # rotated


def test_ode_sampler_with_exact_gaussian_denoiser_recovers_data_variance():
  """gamma_0 = 0, unit step scale, no translation: Euler on the EDM ODE. For N(0, s^2 I) data
  the exact denoiser is s^2 / (s^2 + sigma^2) x; final samples must have variance s^2."""
  s = 5.
  cfg = dataclasses.replace(CFG, gamma_0=0., step_scale=1., noise_scale=1., trans_augment=0.,
                            num_steps=40, num_samples=64)
  denoise = lambda x, sigma, b: s * s / (s * s + sigma * sigma) * x
  out = edm.make_sampler(denoise, cfg)({'seq_mask': jnp.ones(7)}, jax.random.PRNGKey(4))
  pos = np.asarray(out['positions'])  # [64, 21, 3]
  var = pos.var() * 21 / 20  # centring removes one of 21 degrees of freedom
  # Exact for the discrete Euler chain: x_T = x_0 prod_k (1 + (c_k - c_{k-1}) c_{k-1} /
  # (c_{k-1}^2 + s^2)); tends to s^2 as num_steps grows (24.1 at 200 steps).
  c = np.asarray(edm.sampling_noise_levels(cfg), np.float64)
  factor = np.prod(1. + (c[1:] - c[:-1]) * c[:-1] / (c[:-1] ** 2 + s * s))
  np.testing.assert_allclose(var, (c[0] * factor) ** 2, rtol=0.06)
  assert abs((c[0] * factor) ** 2 / (s * s) - 1.) < 0.2


def test_edm_network_sampler_deterministic_finite_centred_padded_and_unpadded():
  gc = GlobalConfig(deterministic=True, zero_init=False)
  ncfg = EDMNetworkConfig(num_layer=1, num_channel=16, num_head=2, num_fourier=8)
  n, c_s, c_z = 11, 7, 5
  fn = hk.transform(lambda x, cn, s, z, m: EDMBackboneNetwork(ncfg, gc)(x, cn, s, z, m))
  k = jax.random.split(jax.random.PRNGKey(5), 3)
  single = jax.random.normal(k[0], (n, c_s))
  pair = jax.random.normal(k[1], (n, n, c_z))
  shapes = jax.eval_shape(fn.init, jax.random.PRNGKey(0), jnp.zeros((3 * n, 3)), 0., single,
                          pair, jnp.ones(n))
  params = random_params(shapes, 0, **DIFFUSION_STD)
  cfg = dataclasses.replace(CFG, num_steps=6, num_samples=2)
  denoise = edm.precondition(make_network_fn(fn.apply, params), cfg)
  run = edm.make_sampler(denoise, cfg)
  for n_real in (n, 8):
    mask = jnp.array([1.] * n_real + [0.] * (n - n_real))
    batch = {'single': single, 'pair': pair, 'seq_mask': mask}
    out = run(batch, jax.random.PRNGKey(6))
    bb = np.asarray(out['backbone'])
    assert bb.shape == (2, n, 3, 3) and np.all(np.isfinite(bb))
    np.testing.assert_array_equal(bb, run(batch, jax.random.PRNGKey(6))['backbone'])
    assert np.abs(bb[0] - bb[1]).max() > 1e-2
    np.testing.assert_allclose(bb[:, :n_real].reshape(2, -1, 3).mean(1), 0., atol=1e-3)
    np.testing.assert_array_equal(bb[:, n_real:], 0.)
  with pytest.raises(ValueError, match='seq_mask'):
    edm.sample(denoise, {}, jax.random.PRNGKey(0), cfg)
