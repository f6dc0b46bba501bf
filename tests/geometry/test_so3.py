"""IGSO3 density / score / sampling (geometry/so3.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.geometry import rotation, so3


def _reference_haar_density(omega, sigma, num_terms=2000):
  """Independent float64 character series (many terms)."""
  l = np.arange(num_terms, dtype=np.float64)[:, None]
  a = (2 * l + 1) * np.exp(-l * (l + 1) * sigma * sigma / 2)
  return np.sum(a * np.sin((l + 0.5) * omega) / np.sin(omega / 2), axis=0)


def _angle_cdf(sigma, num=20001):
  omega = np.linspace(0., np.pi, num)
  dens = np.asarray(so3.igso3_density(omega, sigma), np.float64)
  cdf = np.concatenate([[0.], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(omega))])
  return omega, dens, cdf


@pytest.mark.parametrize('sigma', [0.05, 0.1, 0.5, 0.9, 1.0, 1.5, 2.5])
def test_density_matches_reference_series_and_is_normalised(sigma):
  omega = np.linspace(0.01, np.pi, 997)
  ref = _reference_haar_density(omega, sigma) * (1 - np.cos(omega)) / np.pi
  ours = np.asarray(so3.igso3_density(omega, sigma))
  bulk = ref > 1e-4 * ref.max()  # the float64 reference itself cancels in the far tail
  np.testing.assert_allclose(ours[bulk], ref[bulk], rtol=2e-4)
  grid, dens, cdf = _angle_cdf(sigma)
  assert abs(cdf[-1] - 1.) < 1e-4
  assert np.all(dens >= 0.) and np.all(np.isfinite(dens))


def test_uniform_limit_and_small_sigma_limit():
  omega = np.linspace(0., np.pi, 101)
  np.testing.assert_allclose(so3.igso3_density(omega, 5.0), (1 - np.cos(omega)) / np.pi,
                             atol=1e-6)
  # small sigma: angle ~ Maxwell(sigma) (norm of N(0, sigma^2 I_3)).
  sigma = 0.02
  om = np.linspace(1e-4, 0.2, 2001)
  maxwell = np.sqrt(2 / np.pi) * om ** 2 / sigma ** 3 * np.exp(-om ** 2 / (2 * sigma ** 2))
  np.testing.assert_allclose(so3.igso3_density(om, sigma), maxwell, rtol=2e-3,
                             atol=1e-3 * maxwell.max())


@pytest.mark.parametrize('sigma', [0.1, 0.5, 1.0, 1.5])
def test_sampled_angles_pass_ks_test(sigma):
  stats = pytest.importorskip('scipy.stats')
  rots = so3.igso3_sample(jax.random.PRNGKey(int(sigma * 100)), sigma, (10000,))
  assert rots.shape == (10000, 3, 3)
  angles = np.asarray(jax.jit(rotation.rotation_angle)(rots), np.float64)
  grid, _, cdf = _angle_cdf(sigma)
  result = stats.kstest(angles, lambda x: np.interp(x, grid, cdf))
  assert result.pvalue > 0.01, (sigma, result)


def test_mean_angle_at_sigma_1p5_matches_integral_and_not_half_normal():
  grid, dens, _ = _angle_cdf(1.5)
  expected = np.trapezoid(grid * dens, grid)
  angles = rotation.rotation_angle(so3.igso3_sample(jax.random.PRNGKey(3), 1.5, (10000,)))
  mean = float(jnp.mean(angles))
  assert abs(mean / expected - 1.) < 0.02, (mean, expected)
  # A half-normal angle |N(0, 1.5^2)| (the nano-alphafold2 shortcut) would be far off.
  assert abs(1.5 * np.sqrt(2 / np.pi) / expected - 1.) > 0.1


def test_samples_are_isotropic_rotations_and_deterministic():
  key = jax.random.PRNGKey(7)
  sigma = jnp.array([[0.3], [1.2]])  # broadcasts against shape (2, 6000)
  rots = so3.igso3_sample(key, sigma, (2, 6000))
  assert rots.shape == (2, 6000, 3, 3)
  np.testing.assert_array_equal(rots, so3.igso3_sample(key, sigma, (2, 6000)))
  eye = np.eye(3)
  np.testing.assert_allclose(jnp.einsum('...ji,...jk->...ik', rots, rots),
                             np.broadcast_to(eye, rots.shape), atol=1e-5)
  np.testing.assert_allclose(jnp.linalg.det(rots), 1., atol=1e-5)
  for row, s in enumerate([0.3, 1.2]):
    grid, dens, _ = _angle_cdf(s)
    mean_cos = np.trapezoid(np.cos(grid) * dens, grid)
    # E[R] = (1 + 2 E[cos w]) / 3 * I for an isotropic law.
    np.testing.assert_allclose(jnp.mean(rots[row], 0), (1 + 2 * mean_cos) / 3 * eye, atol=0.025)


def test_sampling_traced_sigma_and_limits():
  f = jax.jit(lambda k, s: so3.igso3_sample_angle(k, s, (4000,)))
  key = jax.random.PRNGKey(11)
  tiny = f(key, 1e-4)  # below the table: Gaussian limit, mean = 2 sigma sqrt(2/pi)
  np.testing.assert_allclose(jnp.mean(tiny), 1e-4 * 2 * np.sqrt(2 / np.pi), rtol=0.05)
  huge = f(key, 50.)  # uniform limit: E[w] = pi/2 + 2/pi
  np.testing.assert_allclose(jnp.mean(huge), np.pi / 2 + 2 / np.pi, rtol=0.03)
  with pytest.raises(ValueError, match='sigma'):
    so3.igso3_sample(key, -1.0, (3,))


def test_score_equals_autodiff_of_log_density():
  def log_haar(rot, sigma):
    omega = rotation.rotation_angle(rot)
    return jnp.log(so3.igso3_density(omega, sigma)) - jnp.log((1. - jnp.cos(omega)) / np.pi)

  def grads(rots, sigma):
    zeros = jnp.zeros((rots.shape[0], 3))
    body = jax.vmap(jax.grad(lambda x, r: log_haar(r @ rotation.rotvec_to_rot(x), sigma)))
    space = jax.vmap(jax.grad(lambda x, r: log_haar(rotation.rotvec_to_rot(x) @ r, sigma)))
    score = so3.igso3_score(rots, sigma)
    stepped = rots @ rotation.rotvec_to_rot(1e-3 * score / jnp.max(jnp.abs(score)))
    gain = log_haar(stepped, sigma) - log_haar(rots, sigma)
    return score, body(zeros, rots), space(zeros, rots), gain

  grads = jax.jit(grads)  # one compilation for every sigma
  for sigma in [0.1, 0.7, 1.3]:
    rots = so3.igso3_sample(jax.random.PRNGKey(5), 1.5 * sigma, (13,))
    score, g_body, g_space, gain = grads(rots, jnp.float32(sigma))
    assert score.shape == (13, 3)
    scale = float(jnp.max(jnp.abs(score)))
    np.testing.assert_allclose(score, g_body, atol=2e-4 * scale)
    np.testing.assert_allclose(score, g_space, atol=2e-4 * scale)
    # Points towards the identity: a small step along the score raises the density.
    assert np.all(gain > 0), sigma


def test_score_at_identity_and_small_angles_is_finite():
  rots = rotation.rotvec_to_rot(jnp.array([[0., 0., 0.], [1e-7, 0., 0.], [0., 2e-3, 0.]]))
  score = so3.igso3_score(rots, 0.2)
  assert np.all(np.isfinite(score))
  np.testing.assert_allclose(score[0], 0., atol=1e-6)
  # near 0: score ~ -rotvec / sigma^2
  np.testing.assert_allclose(score[2], jnp.array([0., -2e-3 / 0.04, 0.]), rtol=1e-2)


def test_log_linear_schedule():
  t = jnp.linspace(0., 1., 7)
  s = so3.igso3_sigma_schedule(t, 0.1, 1.5)
  np.testing.assert_allclose([s[0], s[-1]], [0.1, 1.5], rtol=1e-6)
  np.testing.assert_allclose(jnp.diff(jnp.log(s)), np.log(15.) / 6, rtol=1e-5)
  g2 = so3.igso3_diffusion_coefficient_sq(0.3, 0.1, 1.5)
  h = 1e-3
  fd = (so3.igso3_sigma_schedule(0.3 + h) ** 2 - so3.igso3_sigma_schedule(0.3 - h) ** 2) / (2 * h)
  np.testing.assert_allclose(g2, fd, rtol=1e-3)
  with pytest.raises(ValueError):
    so3.igso3_sigma_schedule(0.5, 1.0, 0.5)


def test_expected_score_norm_matches_monte_carlo():
  sigma = 0.6
  rots = so3.igso3_sample(jax.random.PRNGKey(2), sigma, (8000,))
  mc = jnp.mean(jnp.sum(so3.igso3_score(rots, sigma) ** 2, -1))  # noqa
  np.testing.assert_allclose(so3.igso3_expected_score_sq_norm(sigma), mc, rtol=0.06)
