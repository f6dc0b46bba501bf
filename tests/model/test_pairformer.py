"""Tests for model/pairformer.py (AF3 Suppl. Alg. 17): composition, padding, chunking, stack."""

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.model import pairformer, triangle
from alphafold_jax.model.msa import row_attention_config
from alphafold_jax.model.transition import Transition, TransitionConfig
from alphafold_jax.ops import memory_policy
from tests.ops import trunk_testing as tt
from tests.random_params import random_params

C_S, C_Z = 12, 9


def _config():
  return pairformer.PairformerBlockConfig(
      triangle_multiplication_outgoing=triangle.outgoing_config(num_intermediate_channel=7),
      triangle_multiplication_incoming=triangle.incoming_config(num_intermediate_channel=7),
      triangle_attention_starting_node=triangle.starting_node_config(num_head=3),
      triangle_attention_ending_node=triangle.ending_node_config(num_head=3),
      pair_transition=TransitionConfig(num_intermediate_factor=2, swiglu=True),
      single_attention=row_attention_config(num_head=4, dropout_rate=0.0),
      single_transition=TransitionConfig(num_intermediate_factor=2, swiglu=True))


def _inputs(n, n_real, seed):
  mask = np.zeros(n, np.float32)
  mask[:n_real] = 1
  return tt.normal(seed, (n, C_S)), tt.normal(seed + 1, (n, n, C_Z)), jnp.asarray(mask)


def _block(gc=None, **kw):
  gc = gc or tt.our_global_config()
  return hk.transform(lambda s, z, m: pairformer.PairformerBlock(_config(), gc, **kw)(s, z, m))


def test_pair_track_is_the_triangle_composition_and_single_reads_pair():
  """The pair output equals the five pair sub-blocks applied in AF3 order; single depends on pair."""
  s, z, m = _inputs(6, 6, seed=1)
  t = _block()
  params = random_params(tt.param_shapes(t, s, z, m), seed=2)
  s_out, z_out = jax.jit(t.apply)(params, None, s, z, m)
  gc = tt.our_global_config()
  cfg = _config()

  def pair_only(z, m):
    pm = m[:, None] * m[None]
    with hk.experimental.name_scope('pairformer_block'):
      for name, cls in (('triangle_multiplication_outgoing', triangle.TriangleMultiplication),
                        ('triangle_multiplication_incoming', triangle.TriangleMultiplication),
                        ('triangle_attention_starting_node', triangle.TriangleAttention),
                        ('triangle_attention_ending_node', triangle.TriangleAttention),
                        ('pair_transition', Transition)):
        z = z + cls(getattr(cfg, name), gc, name=name)(z, pm)
    return z

  z_ref = jax.jit(hk.transform(pair_only).apply)(params, None, z, m)
  assert tt.max_diff(z_out, z_ref) <= 1e-5
  s_out2, z_out2 = jax.jit(t.apply)(params, None, s * 2.0, z, m)
  assert tt.max_diff(z_out2, z_out) == 0.0  # the single track never writes the pair
  s_out3, _ = jax.jit(t.apply)(params, None, s, z + tt.normal(3, z.shape), m)
  assert tt.max_diff(s_out3, s_out) > 1e-3  # but reads it through the attention bias


def test_padding_invariance_and_chunking():
  n, pad = 5, 3
  s, z, m = _inputs(n, n, seed=3)
  s_big = tt.normal(5, (n + pad, C_S), 5.0).at[:n].set(s)
  z_big = tt.normal(6, (n + pad, n + pad, C_Z), 5.0).at[:n, :n].set(z)
  m_big = jnp.zeros(n + pad).at[:n].set(1.0)
  t = _block()
  t_chunk = _block(tt.our_global_config(subbatch_size=2))
  params = random_params(tt.param_shapes(t, s, z, m), seed=4)
  s1, z1 = jax.jit(t.apply)(params, None, s, z, m)
  s2, z2 = jax.jit(t.apply)(params, None, s_big, z_big, m_big)
  s3, z3 = jax.jit(t_chunk.apply)(params, None, s_big, z_big, m_big)
  assert max(tt.max_diff(s2[:n], s1), tt.max_diff(z2[:n, :n], z1)) <= 1e-5
  assert max(tt.max_diff(s3, s2), tt.max_diff(z3, z2)) <= 1e-5


def test_stack_equals_loop_values_and_grads():
  s, z, m = _inputs(5, 4, seed=7)
  gc = tt.our_global_config(deterministic=False)
  stack = lambda gc: hk.transform(lambda s, z, m: pairformer.pairformer_stack(
      s, z, m, config=_config(), global_config=gc, num_block=2, is_training=True))
  t = stack(gc)
  params = random_params(tt.param_shapes(t, s, z, m), seed=8, stacked=True)
  assert params['pairformer_block/single_transition/transition1']['weights'].shape == (2, C_S, 4 * C_S)
  key = jax.random.PRNGKey(9)
  block = hk.transform(lambda s, z, m: pairformer.PairformerBlock(_config(), gc)(s, z, m, True))

  def loop(p):  # hand-written loop over sliced params with the stack's per-layer keys
    k = hk.transform(lambda: hk.next_rng_key()).apply({}, key)
    carry = (s, z)
    for i in range(2):
      k, sub = jax.random.split(k)
      carry = block.apply(jax.tree_util.tree_map(lambda v: v[i], p), sub, *carry, m)
    return carry

  def loss(outs):
    return jnp.sum(jnp.sin(outs[0]) * m[:, None]) + jnp.sum(jnp.cos(outs[1]) * (m[:, None] * m)[..., None])

  # Low-memory training policy (ops/memory_policy.py): per-sub-layer remat (ops/remat.py, which
  # closes over the scanned layer index) inside per-block remat, with dropout active. (Its
  # checkpointed chunks are checked on the Evoformer block, which is cheaper to compile.)
  t_low = stack(dataclasses.replace(memory_policy.low_memory_training(gc), subbatch_size=None,
                                    chunk_budget_mib=None))
  tt.same_tree_structure(tt.param_shapes(t_low, s, z, m), params)
  results = [jax.jit(jax.value_and_grad(lambda p: loss(f(p))))(params) for f in (
      lambda p: t.apply(p, key, s, z, m), loop, lambda p: t_low.apply(p, key, s, z, m))]
  (v0, g0) = results[0]
  for v, g in results[1:]:
    assert abs(float(v - v0)) <= 1e-4 * max(1.0, abs(float(v0)))
    assert tt.tree_rel_diff(g, g0) <= 1e-5
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(g0))
