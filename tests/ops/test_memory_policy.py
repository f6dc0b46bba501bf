"""Tests for ops/memory_policy.py: what the policy picks, and Haiku param trees under remat."""

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.ops.global_config import GlobalConfig, GlobalConfigError
from alphafold_jax.model.attention import Attention, AttentionConfig
from alphafold_jax.ops import chunking, memory_policy
from tests.ops import trunk_testing as tt
from tests.random_params import random_params


def test_policy_table():
  """Each GlobalConfig setting maps to the chunking/remat the module docstring promises."""
  af2 = GlobalConfig()
  assert memory_policy.chunk_policy(af2, is_training=False) == chunking.ChunkPolicy(rows=4)
  assert memory_policy.chunk_policy(af2, is_training=True) == chunking.ChunkPolicy()
  assert not memory_policy.remat_sublayers(af2, True) and not memory_policy.block_remat(af2)
  # A sub-layer's own AF2 chunk (outer product mean, template attention) whenever fixed rows
  # are on; chunking off switches it off too.
  assert memory_policy.chunk_policy(af2, False, rows=128) == chunking.ChunkPolicy(rows=128)
  assert memory_policy.chunk_policy(af2, True, rows=128) == chunking.ChunkPolicy()
  assert memory_policy.chunk_policy(GlobalConfig(subbatch_size=None), False,
                                    rows=128) == chunking.ChunkPolicy()
  off = GlobalConfig(subbatch_size=None)
  assert memory_policy.chunk_policy(off, False) == chunking.ChunkPolicy()
  budget = GlobalConfig(chunk_budget_mib=1.5)
  assert memory_policy.chunk_policy(budget, False) == chunking.ChunkPolicy(
      max_chunk_bytes=3 * 2 ** 19)
  assert memory_policy.chunk_policy(budget, True) == chunking.ChunkPolicy()  # opt-in only
  low = memory_policy.low_memory_training(GlobalConfig(deterministic=True), chunk_budget_mib=7)
  assert (low.deterministic, low.chunk_in_training, low.remat_sublayers, low.use_remat) == (
      True, True, True, True)
  assert memory_policy.chunk_policy(low, True) == chunking.ChunkPolicy(
      max_chunk_bytes=7 * 2 ** 20, remat=True)
  assert memory_policy.chunk_policy(low, False) == chunking.ChunkPolicy(max_chunk_bytes=7 * 2 ** 20)
  assert memory_policy.chunk_policy(low, True, rows=128) == chunking.ChunkPolicy(
      max_chunk_bytes=7 * 2 ** 20, remat=True)  # the budget applies to every sub-layer
  assert memory_policy.remat_sublayers(low, True) and not memory_policy.remat_sublayers(low, False)
  auto = memory_policy.auto_chunking(af2)
  assert memory_policy.chunk_policy(auto, False) == chunking.ChunkPolicy(
      max_chunk_bytes=int(memory_policy.AUTO_CHUNK_BUDGET_MIB * 2 ** 20))
  assert memory_policy.chunk_policy(auto, True) == chunking.ChunkPolicy()  # training unchanged
  rows = dataclasses.replace(low, chunk_budget_mib=None, subbatch_size=3)
  assert memory_policy.chunk_policy(rows, True) == chunking.ChunkPolicy(rows=3, remat=True)


@pytest.mark.parametrize('bad', [dict(subbatch_size=0), dict(subbatch_size=2.5),
                                 dict(subbatch_size=True), dict(chunk_budget_mib=0)])
def test_global_config_rejects_bad_memory_settings(bad):
  with pytest.raises(GlobalConfigError, match=next(iter(bad))):
    GlobalConfig(**bad)


def _attention_branch(gc, is_training):
  """A residual branch as the trunk builds it: module made outside, called via the policy."""

  def fn(x, bias):
    module = Attention(AttentionConfig(num_head=3), gc, output_dim=x.shape[-1], name='attn')
    branch = memory_policy.sublayer(
        lambda a, b: module(a, a, b, chunk_size=memory_policy.chunk_policy(gc, is_training)),
        gc, is_training)
    return x + branch(x, bias)

  return hk.transform(fn)


def test_sublayer_remat_and_chunks_keep_params_values_and_grads():
  """Low-memory training (checkpointed 2-row chunks, branch remat) == plain: same param tree,
  values and gradients w.r.t. params and inputs."""
  x = tt.normal(0, (7, 5, 6))  # [B, Q, c]
  bias = jnp.asarray(tt.padded_mask((7, 5), (7, 4), seed=1)[:, None, None, :] - 1.0) * 1e9
  plain = _attention_branch(GlobalConfig(subbatch_size=None), True)
  two_rows_of_logits = 2 * 3 * 5 * 5 * 4 / 2**20  # MiB of 2 rows of [B, H=3, Q=5, K=5] float32
  low_gc = memory_policy.low_memory_training(GlobalConfig(), chunk_budget_mib=two_rows_of_logits)
  low = _attention_branch(low_gc, True)
  shapes = tt.param_shapes(plain, x, bias)
  tt.same_tree_structure(tt.param_shapes(low, x, bias), shapes)
  params = random_params(shapes, seed=2)

  def grads(t):
    loss = lambda p, x: jnp.sum(jnp.sin(t.apply(p, None, x, bias)))
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, x)

  (v_ref, g_ref), (v, g) = grads(plain), grads(low)
  assert abs(float(v - v_ref)) <= 1e-5 * max(1.0, abs(float(v_ref)))
  assert tt.tree_rel_diff(g, g_ref) <= 1e-5
  assert all(float(jnp.abs(leaf).max()) > 0 for leaf in jax.tree_util.tree_leaves(g_ref))
  # The budget really chunked: 2 rows of the [B, H=3, Q, K] logits per chunk (3 chunks + tail).
  jaxpr = str(jax.make_jaxpr(lambda p: low.apply(p, None, x, bias))(params))
  assert 'scan' in jaxpr and 'scan' not in str(
      jax.make_jaxpr(lambda p: plain.apply(p, None, x, bias))(params))
