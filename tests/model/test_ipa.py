"""Invariant Point Attention (Suppl. Alg. 22): oracle equality, invariance, padding, grads."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.geometry import quaternion
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model.ipa import InvariantPointAttention, InvariantPointAttentionConfig
from tests.oracle import requires_oracle
from tests.random_params import random_params

pytestmark = requires_oracle

N_RES, N_PAD, C_S, C_Z = 13, 3, 384, 128
CFG = InvariantPointAttentionConfig()  # model_1_ptm widths
GC = GlobalConfig(deterministic=True)


def _random_frames(rng, shape, trans_scale=1.0):
  quat = jnp.asarray(rng.normal(size=shape + (4,)), jnp.float32)
  trans = jnp.asarray(trans_scale * rng.normal(size=shape + (3,)), jnp.float32)
  return quat, Rigid(rot=quaternion.quat_to_rot(quat), trans=trans)


def _inputs(seed):
  rng = np.random.default_rng(seed)
  single = jnp.asarray(rng.normal(size=(N_RES, C_S)), jnp.float32)
  pair = jnp.asarray(rng.normal(size=(N_RES, N_RES, C_Z)), jnp.float32)
  mask = jnp.asarray(np.r_[np.ones(N_RES - N_PAD), np.zeros(N_PAD)], jnp.float32)
  quat, frames = _random_frames(rng, (N_RES,))
  return single, pair, mask, quat, frames


_ours = hk.transform(lambda s, z, m, f: InvariantPointAttention(CFG, GC)(s, z, m, f))
_ours_apply = jax.jit(_ours.apply)


@pytest.fixture(scope='module')
def params():
  single, pair, mask, _, frames = _inputs(0)
  shapes = jax.eval_shape(_ours.init, jax.random.PRNGKey(0), single, pair, mask, frames)
  # AF2 zero-inits output_projection; biases and point weights ~ N(0, 0.5^2).
  return random_params(shapes, 1, bias_std=0.5)


def test_matches_oracle(params):
  from alphafold.model import config, folding, quat_affine
  cfg = config.model_config('model_1_ptm')
  cfg.model.global_config.bfloat16 = False

  def oracle_fn(single, pair, mask, quat, trans):
    affine = quat_affine.QuatAffine(quat, [trans[:, 0], trans[:, 1], trans[:, 2]])
    return folding.InvariantPointAttention(
        cfg.model.heads.structure_module, cfg.model.global_config)(
            inputs_1d=single, inputs_2d=pair, mask=mask[:, None], affine=affine)

  oracle = hk.transform(oracle_fn)
  single, pair, mask, quat, frames = _inputs(2)
  oracle_shapes = jax.eval_shape(oracle.init, jax.random.PRNGKey(0), single, pair, mask, quat,
                                 frames.trans)
  assert jax.tree_util.tree_map(lambda s: s.shape, oracle_shapes) == \
      jax.tree_util.tree_map(lambda s: s.shape, params)
  ref = jax.jit(oracle.apply)(params, None, single, pair, mask, quat, frames.trans)
  out = _ours_apply(params, None, single, pair, mask, frames)
  d = float(np.max(np.abs(np.asarray(out) - np.asarray(ref))))
  print(f'IPA vs oracle max|d| {d:.2e} (output scale {float(np.abs(ref).max()):.2f})')
  assert float(np.abs(ref).max()) > 0.5
  assert d <= 1e-4


def test_invariant_under_global_rigid_motion(params):
  single, pair, mask, _, frames = _inputs(3)
  rng = np.random.default_rng(4)
  _, g = _random_frames(rng, (), trans_scale=5.0)
  moved = g.map(lambda x: x[None]) @ frames  # [N]: every frame moved by the same g
  out = _ours_apply(params, None, single, pair, mask, frames)
  out_moved = _ours_apply(params, None, single, pair, mask, moved)
  np.testing.assert_allclose(out_moved, out, atol=2e-4)
  # ...but not under an independent motion of each frame.
  _, per_res = _random_frames(rng, (N_RES,), trans_scale=5.0)
  out_other = _ours_apply(params, None, single, pair, mask, per_res @ frames)
  assert float(np.max(np.abs(np.asarray(out_other - out)))) > 1e-2


def test_padding_invariance(params):
  single, pair, mask, _, frames = _inputs(5)
  rng = np.random.default_rng(6)
  real = N_RES - N_PAD
  single2 = single.at[real:].set(jnp.asarray(rng.normal(size=(N_PAD, C_S)) * 3, jnp.float32))
  noise = jnp.asarray(rng.normal(size=(N_RES, N_RES, C_Z)) * 3, jnp.float32)
  pad2d = (1 - mask[:, None] * mask[None, :])[..., None]
  pair2 = pair + noise * pad2d  # changes only pairs touching a padded residue
  _, other = _random_frames(rng, (N_RES,), trans_scale=10.0)
  frames2 = Rigid(rot=frames.rot.at[real:].set(other.rot[real:]),
                  trans=frames.trans.at[real:].set(other.trans[real:]))
  out = _ours_apply(params, None, single, pair, mask, frames)
  out2 = _ours_apply(params, None, single2, pair2, mask, frames2)
  np.testing.assert_allclose(out2[:real], out[:real], atol=1e-5)
  # Unpadded computation on the real residues alone gives the same result.
  out_small = jax.jit(_ours.apply)(params, None, single[:real], pair[:real, :real], mask[:real],
                                   frames[:real])
  np.testing.assert_allclose(out_small, out[:real], atol=1e-4)


def test_gradients_finite(params):
  single, pair, mask, _, frames = _inputs(7)
  # Degenerate geometry: all frames identical (all points coincide across residues).
  same = Rigid.identity((N_RES,))

  def loss(p, s, z, f):
    return jnp.sum(_ours.apply(p, None, s, z, mask, f) ** 2)

  grad_fn = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))
  for f in (frames, same):
    grads = grad_fn(params, single, pair, f)
    leaves = jax.tree_util.tree_leaves(grads)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in leaves)
    assert float(np.abs(np.asarray(grads[0]['invariant_point_attention']
                                   ['trainable_point_weights'])).sum()) > 0


def test_zero_init_output_is_zero():
  single, pair, mask, _, frames = _inputs(8)
  p = jax.jit(_ours.init)(jax.random.PRNGKey(0), single, pair, mask, frames)
  out = _ours_apply(p, None, single, pair, mask, frames)
  assert np.all(np.asarray(out) == 0)  # AF2: final projection zero-initialised


def test_bad_shapes_raise():
  single, pair, mask, _, frames = _inputs(9)
  with pytest.raises(ValueError, match='residue axes'):
    _ours.init(jax.random.PRNGKey(0), single, pair[:-1, :-1], mask, frames)
  with pytest.raises(ValueError, match='positive int'):
    InvariantPointAttentionConfig(num_head=0)
