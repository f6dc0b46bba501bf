"""R3 VP diffusion: marginals, exact DDPM posterior, DDIM (model/diffusion/r3.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.model.diffusion import r3
from alphafold_jax.model.diffusion.config import R3Config

CFG = R3Config()


def test_alpha_bar_is_exp_of_integrated_beta():
  t = np.linspace(0., 1., 2001)
  beta = CFG.beta_min + t * (CFG.beta_max - CFG.beta_min)
  integral = np.concatenate([[0.], np.cumsum(0.5 * (beta[1:] + beta[:-1]) * np.diff(t))])
  np.testing.assert_allclose(r3.integrated_beta(t, CFG), integral, rtol=1e-5, atol=1e-6)
  ab = np.asarray(r3.alpha_bar(t, CFG))
  assert ab[0] == 1. and np.all(np.diff(ab) < 0) and ab[-1] < 1e-4
  with pytest.raises(ValueError):
    R3Config(beta_min=1., beta_max=0.5)


@pytest.mark.parametrize('t', [0.05, 0.4])
def test_forward_marginal_mean_and_variance_with_padding(t):
  n_real, n = 7, 11
  mask = jnp.array([1.] * n_real + [0.] * (n - n_real))
  x0 = jax.random.normal(jax.random.PRNGKey(1), (n, 3)) * 2. + 3.  # uncentred input
  keys = jax.random.split(jax.random.PRNGKey(2), 20000)
  xt, z = jax.jit(jax.vmap(lambda k: r3.forward_sample(k, x0, t, mask, CFG)))(keys)
  ab = float(r3.alpha_bar(t, CFG))
  x0c = np.asarray(r3.centre(x0, mask))
  np.testing.assert_allclose(x0c[:n_real].mean(0), 0., atol=1e-5)
  np.testing.assert_allclose(jnp.mean(xt, 0)[:n_real], np.sqrt(ab) * x0c[:n_real],
                             atol=4 * np.sqrt((1 - ab) / 20000))
  var = np.asarray(jnp.var(xt, 0))[:n_real]
  np.testing.assert_allclose(var, (1 - ab) * (1 - 1 / n_real), rtol=0.06)
  np.testing.assert_allclose(jnp.sum(xt[:, :n_real], 1), 0., atol=1e-4)  # centred
  np.testing.assert_array_equal(xt[:, n_real:], 0.)


def test_posterior_equals_bayes_product_of_gaussians():
  t, s = 0.6, 0.45
  x0 = jax.random.normal(jax.random.PRNGKey(3), (5, 3))
  xt = jax.random.normal(jax.random.PRNGKey(4), (5, 3))
  mean, var = r3.posterior_mean_var(xt, x0, t, s, CFG)
  ab_t, ab_s = float(r3.alpha_bar(t, CFG)), float(r3.alpha_bar(s, CFG))
  a_ts = ab_t / ab_s
  # p(x_s | x_0) = N(sqrt(ab_s) x0, 1 - ab_s);  p(x_t | x_s) = N(sqrt(a_ts) x_s, 1 - a_ts)
  precision = 1 / (1 - ab_s) + a_ts / (1 - a_ts)
  expected_mean = (np.sqrt(ab_s) * np.asarray(x0) / (1 - ab_s)
                   + np.sqrt(a_ts) * np.asarray(xt) / (1 - a_ts)) / precision
  np.testing.assert_allclose(var, 1 / precision, rtol=1e-5)
  np.testing.assert_allclose(mean, expected_mean, rtol=1e-4, atol=1e-5)


def test_posterior_step_is_exact_on_gaussian_toy():
  """x_t ~ q(x_t|x_0), then x_s ~ q(x_s|x_t,x_0) must be distributed as q(x_s|x_0)."""
  n = 13
  t, s = 0.35, 0.2  # x_t still carries much of x_0
  x0 = r3.centre(jax.random.normal(jax.random.PRNGKey(5), (n, 3)) * 1.5)

  def chain(key):
    k1, k2 = jax.random.split(key)
    xt, _ = r3.forward_sample(k1, x0, t, None, CFG)
    return r3.reverse_step(k2, xt, x0, t, s, None, CFG)

  xs = jax.jit(jax.vmap(chain))(jax.random.split(jax.random.PRNGKey(6), 20000))
  ab_s = float(r3.alpha_bar(s, CFG))
  resid = (np.asarray(xs) - np.sqrt(ab_s) * np.asarray(x0)) / np.sqrt((1 - ab_s) * (1 - 1 / n))
  assert abs(resid.mean()) < 0.01
  np.testing.assert_allclose(resid.var(0), 1., atol=0.06)
  # The check can fail: ignoring x_t's share of the mean leaves only the posterior variance,
  # well below the marginal variance the chain must reproduce.
  _, var = r3.posterior_mean_var(jnp.zeros_like(x0), x0, t, s, CFG)
  assert float(var) / (1 - ab_s) < 0.9


def test_ddim_step_keeps_the_noise():
  x0 = r3.centre(jax.random.normal(jax.random.PRNGKey(7), (7, 3)))
  xt, z = r3.forward_sample(jax.random.PRNGKey(8), x0, 0.8, None, CFG)
  xs = r3.reverse_step(None, xt, x0, 0.8, 0.2, None, CFG, probability_flow=True)
  ab = float(r3.alpha_bar(0.2, CFG))
  np.testing.assert_allclose(xs, np.sqrt(ab) * x0 + np.sqrt(1 - ab) * z, atol=1e-5)
  np.testing.assert_allclose(r3.score(xt, x0, 0.8, CFG),
                             -z / np.sqrt(1 - float(r3.alpha_bar(0.8, CFG))), rtol=1e-4,
                             atol=1e-5)


def test_mask_shape_error():
  with pytest.raises(ValueError, match='mask'):
    r3.centre(jnp.zeros((5, 3)), jnp.ones((7,)))
