"""IPA frame denoiser (equivariance, padding) and the jitted SE(3) sampler."""

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.geometry import rotation
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model.diffusion import backbone, sampler
from alphafold_jax.model.diffusion.config import (DenoiserConfig, SamplerConfig,
                                                  SE3DiffusionConfig)
from alphafold_jax.model.diffusion.denoiser import FrameDenoiser, make_denoise_fn
from tests.random_params import DIFFUSION_STD, random_params

GC = GlobalConfig(deterministic=True, zero_init=False)
DCFG = DenoiserConfig(num_block=2, num_channel=16, num_pair_channel=8, num_time_channel=8,
                      num_head=2, num_scalar_qk=4, num_scalar_v=4, num_point_qk=2,
                      num_point_v=3)
C_S, C_Z = 7, 5


def _apply():
  def fwd(frames, t, single, pair, mask, self_cond, valid):
    return FrameDenoiser(DCFG, GC)(frames, t, single, pair, mask, self_cond, valid)
  return hk.transform(fwd)


def _inputs(n, n_real, seed=0):
  k = jax.random.split(jax.random.PRNGKey(seed), 5)
  frames = Rigid(rot=rotation.random_rotation(k[0], (n,)), trans=jax.random.normal(k[1], (n, 3)) * 6.)
  single = jax.random.normal(k[2], (n, C_S))
  pair = jax.random.normal(k[3], (n, n, C_Z))
  mask = jnp.array([1.] * n_real + [0.] * (n - n_real))
  prev = Rigid(rot=rotation.random_rotation(k[4], (n,)), trans=frames.trans + 1.)
  return frames, single, pair, mask, prev


@pytest.fixture(scope='module')
def model():
  fn = _apply()
  frames, single, pair, mask, prev = _inputs(11, 8)
  # Random non-trivial params from the init's shapes (no compilation of init).
  shapes = jax.eval_shape(fn.init, jax.random.PRNGKey(0), frames, 0.3, single, pair, mask, prev, 1.)
  return fn, random_params(shapes, 0, **DIFFUSION_STD)


def test_denoiser_is_se3_equivariant(model):
  fn, params = model
  frames, single, pair, mask, prev = _inputs(11, 8, seed=1)
  apply = jax.jit(fn.apply)
  out = apply(params, None, frames, 0.4, single, pair, mask, prev, 1.)['frames']
  g = Rigid(rot=rotation.random_rotation(jax.random.PRNGKey(9)),
            trans=jnp.array([12., -7., 3.]))
  gb = g.map(lambda x: x[None])
  moved = apply(params, None, gb @ frames, 0.4, single, pair, mask, gb @ prev, 1.)['frames']
  expect = gb @ out
  # the prediction moved, i.e. the network is not the identity map
  assert float(jnp.max(jnp.abs(out.trans - frames.trans)[:8])) > 0.1
  np.testing.assert_allclose(moved.trans[:8], expect.trans[:8], atol=1e-4)
  np.testing.assert_allclose(moved.rot[:8], expect.rot[:8], atol=1e-5)


def test_denoiser_padding_and_conditioning(model):
  fn, params = model
  frames, single, pair, mask, prev = _inputs(11, 8, seed=2)
  apply = jax.jit(fn.apply)
  out = apply(params, None, frames, 0.4, single, pair, mask, prev, 1.)['frames']
  # Changing padded residues' inputs leaves the real outputs unchanged.
  noise = jax.random.normal(jax.random.PRNGKey(3), single.shape) * (1 - mask)[:, None]
  pair2 = pair.at[8:].set(3.).at[:, 8:].set(-2.)
  frames2 = Rigid(rot=frames.rot, trans=frames.trans.at[8:].add(50.))
  prev2 = Rigid(rot=prev.rot, trans=prev.trans.at[8:].add(50.))
  out2 = apply(params, None, frames2, 0.4, single + noise, pair2, mask, prev2, 1.)['frames']
  np.testing.assert_allclose(out2.trans[:8], out.trans[:8], atol=1e-4)
  np.testing.assert_allclose(out.trans[8:], frames.trans[8:], atol=1e-5)  # kept
  # time, trunk conditioning and self-conditioning all matter
  for args in [(0.9, single, prev, 1.), (0.4, single[::-1], prev, 1.), (0.4, single, prev, 0.)]:
    t, s, p, v = args
    other = apply(params, None, frames, t, s, pair, mask, p, v)['frames']
    assert float(jnp.max(jnp.abs(other.trans - out.trans)[:8])) > 1e-3


def test_ideal_backbone_geometry():
  table = backbone.ideal_backbone_table()
  assert table.shape == (21, 3, 3)
  np.testing.assert_allclose(np.linalg.norm(table[:, 0] - table[:, 1], axis=-1), 1.458, atol=0.01)
  np.testing.assert_allclose(np.linalg.norm(table[:, 2] - table[:, 1], axis=-1), 1.525, atol=0.01)
  np.testing.assert_allclose(table[20], table[0])  # UNK -> ALA
  # frames rebuilt from the atoms equal the input frames
  frames = Rigid(rot=rotation.random_rotation(jax.random.PRNGKey(0), (5,)),
                 trans=jax.random.normal(jax.random.PRNGKey(1), (5, 3)))
  atoms = backbone.frames_to_backbone(frames, jnp.array([0, 7, 3, 20, 14]))
  rebuilt = Rigid.from_backbone(atoms[:, 0], atoms[:, 1], atoms[:, 2])
  np.testing.assert_allclose(rebuilt.rot, frames.rot, atol=1e-5)
  np.testing.assert_allclose(rebuilt.trans, frames.trans, atol=1e-6)


def test_sampler_deterministic_finite_centred_padded_and_unpadded(model):
  fn, params = model
  n = 13
  cfg = SE3DiffusionConfig(sampler=SamplerConfig(num_steps=4, num_samples=2,
                                                 return_trajectory=True))
  run = sampler.make_sampler(make_denoise_fn(fn.apply, params), cfg)  # one compilation
  for n_real in (n, 9):  # unpadded, then padded (same shapes, different mask)
    _, single, pair, mask, _ = _inputs(n, n_real, seed=4)
    batch = {'single': single, 'pair': pair, 'seq_mask': mask, 'aatype': jnp.arange(n) % 21}
    out = run(batch, jax.random.PRNGKey(5))
    again = run(batch, jax.random.PRNGKey(5))
    other = run(batch, jax.random.PRNGKey(6))
    bb = np.asarray(out['backbone'])
    assert bb.shape == (2, n, 3, 3)
    assert out['trajectory'].shape == (2, 4, n)
    np.testing.assert_array_equal(bb, again['backbone'])
    assert np.all(np.isfinite(bb))
    assert np.abs(bb[:, :n_real] - np.asarray(other['backbone'])[:, :n_real]).max() > 1e-2
    assert np.abs(bb[0] - bb[1]).max() > 1e-2  # samples differ
    np.testing.assert_allclose(bb[:, :n_real, 1].mean(1), 0., atol=1e-3)  # CA centred
    np.testing.assert_array_equal(bb[:, n_real:], 0.)
    # N-CA bond lengths are ideal
    np.testing.assert_allclose(np.linalg.norm(bb[:, :n_real, 0] - bb[:, :n_real, 1], axis=-1),
                               1.458, atol=0.01)


def test_sampler_errors():
  cfg = SE3DiffusionConfig(sampler=SamplerConfig(num_steps=2))
  with pytest.raises(ValueError, match='seq_mask'):
    sampler.sample(lambda *a: a[0], {}, jax.random.PRNGKey(0), cfg)
  with pytest.raises(ValueError):
    SamplerConfig(min_t=0.)
  with pytest.raises(ValueError):
    dataclasses.replace(DCFG, num_block=0)
