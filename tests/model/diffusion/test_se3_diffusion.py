"""SE(3) frame diffusion: forward marginal, reverse geodesic random walk, equivariance."""

import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.geometry import rotation, so3
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model.diffusion import se3
from alphafold_jax.model.diffusion.config import SE3DiffusionConfig

CFG = SE3DiffusionConfig()


def _random_frames(key, n, trans_scale=8.):
  k1, k2 = jax.random.split(key)
  return Rigid(rot=rotation.random_rotation(k1, (n,)),
               trans=jax.random.normal(k2, (n, 3)) * trans_scale)


def _mean_angle(sigma):
  omega = np.linspace(0., np.pi, 20001)
  dens = np.asarray(so3.igso3_density(omega, sigma))
  return np.trapezoid(omega * dens, omega)


def test_forward_rotation_noise_is_igso3_at_sigma_t():
  n = 2000
  frames0 = _random_frames(jax.random.PRNGKey(0), n)
  t = 0.6
  noisy = jax.jit(lambda k: se3.forward_sample(k, frames0, t, None, CFG))(jax.random.PRNGKey(1))
  angles = rotation.relative_angle(frames0.rot, noisy.rot)
  np.testing.assert_allclose(jnp.mean(angles), _mean_angle(float(se3.sigma(t, CFG))), rtol=0.04)
  np.testing.assert_allclose(jnp.mean(noisy.trans, 0), 0., atol=1e-3)


def _run_rotation_chain(rot0, key, num_steps, probability_flow):
  """Reverse chain with the exact denoiser (data = a point mass at rot0)."""
  n = rot0.shape[0]
  frames0 = Rigid(rot=rot0, trans=jnp.zeros((n, 3)))
  ts = jnp.linspace(1., 0.05, num_steps + 1)
  key0, key_steps = jax.random.split(key)
  start = se3.forward_sample(key0, frames0, 1.0, None, CFG)

  def body(frames, xs):
    t, s, k = xs
    return se3.reverse_step(k, frames, frames0, t, s, None, CFG,
                            probability_flow=probability_flow), None

  out, _ = jax.lax.scan(body, start, (ts[:-1], ts[1:], jax.random.split(key_steps, num_steps)))
  return out


def test_reverse_sde_with_exact_score_recovers_igso3_marginal():
  """Geodesic random walk from IGSO3(R0, sigma(1)) ends at IGSO3(R0, sigma(0.05))."""
  n = 3000
  rot0 = rotation.random_rotation(jax.random.PRNGKey(2), (n,))
  run = jax.jit(lambda r, k, pf: _run_rotation_chain(r, k, 200, pf), static_argnums=2)
  expected = _mean_angle(float(se3.sigma(0.05, CFG)))
  for pf in (False, True):
    out = run(rot0, jax.random.PRNGKey(3), pf)
    angles = rotation.relative_angle(rot0, out.rot)
    np.testing.assert_allclose(jnp.mean(angles), expected, rtol=0.06, err_msg=f'ode={pf}')
    # Without the score term the angles would stay near the t = 1 level.
    assert float(jnp.mean(angles)) < 0.5 * _mean_angle(float(se3.sigma(1., CFG)))


def test_reverse_step_is_equivariant_and_respects_padding():
  n = 11
  mask = jnp.array([1.] * 8 + [0.] * 3)
  frames_t = _random_frames(jax.random.PRNGKey(4), n)
  pred = _random_frames(jax.random.PRNGKey(5), n)
  g = _random_frames(jax.random.PRNGKey(6), 1, trans_scale=0.)[0]  # pure rotation
  key = jax.random.PRNGKey(7)
  step = jax.jit(lambda a, b, ode: se3.reverse_step(key, a, b, 0.5, 0.45, mask, CFG,
                                                    probability_flow=ode), static_argnums=2)
  gb = g.map(lambda x: x[None])
  for ode in (False, True):
    out = step(frames_t, pred, ode)
    moved = step(gb @ frames_t, gb @ pred, ode)
    # Rotations: exactly equivariant (body-frame noise). Translations: exactly for the ODE;
    # the SDE's R3 noise is isotropic, so only equivariant in distribution.
    np.testing.assert_allclose(moved.rot[:8], jnp.einsum('ij,njk->nik', g.rot, out.rot)[:8],
                               atol=1e-5)
    if ode:
      np.testing.assert_allclose(moved.trans[:8], g.apply(out.trans)[:8], atol=1e-4)
    assert float(jnp.max(rotation.relative_angle(out.rot, frames_t.rot)[:8])) > 1e-3
  # padded: rotation unchanged, translation at the origin; real ones centred.
  np.testing.assert_allclose(out.rot[8:], frames_t.rot[8:], atol=1e-6)
  np.testing.assert_array_equal(out.trans[8:], 0.)
  np.testing.assert_allclose(jnp.sum(out.trans[:8], 0), 0., atol=1e-3)


def test_prior_sample():
  mask = jnp.array([1.] * 5 + [0.] * 2)
  prior = se3.sample_prior(jax.random.PRNGKey(8), (7,), mask, CFG)
  np.testing.assert_allclose(jnp.linalg.det(prior.rot), 1., atol=1e-5)
  np.testing.assert_allclose(prior.rot[5:], np.broadcast_to(np.eye(3), (2, 3, 3)))
  np.testing.assert_allclose(jnp.sum(prior.trans, 0), 0., atol=1e-3)
  assert float(jnp.std(prior.trans[:5])) > 2.  # ~10 angstrom scale
