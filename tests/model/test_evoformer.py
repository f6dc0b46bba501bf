"""Oracle and property tests for model/evoformer.py (Suppl. Alg. 6 Evoformer, Alg. 18 extra MSA)."""

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.model import evoformer, msa as msa_lib, triangle
from alphafold_jax.model.outer_product_mean import OuterProductMeanConfig
from alphafold_jax.model.transition import TransitionConfig
from tests.ops import trunk_testing as tt
from tests.oracle import requires_oracle
from tests.random_params import random_params

pytestmark = requires_oracle


def _odd_config(fused=False):
  """Small odd widths: c_m 15 (3 heads), c_z 9 (3 heads), outer 5, triangle hidden 7."""
  tri = dict(num_intermediate_channel=7, fuse_projection_weights=fused)
  return evoformer.EvoformerIterationConfig(
      msa_row_attention_with_pair_bias=msa_lib.row_attention_config(num_head=3),
      msa_column_attention=msa_lib.column_attention_config(num_head=3),
      msa_transition=TransitionConfig(num_intermediate_factor=2),
      outer_product_mean=OuterProductMeanConfig(num_outer_channel=5),
      triangle_multiplication_outgoing=triangle.outgoing_config(**tri),
      triangle_multiplication_incoming=triangle.incoming_config(**tri),
      triangle_attention_starting_node=triangle.starting_node_config(num_head=3),
      triangle_attention_ending_node=triangle.ending_node_config(num_head=3),
      pair_transition=TransitionConfig(num_intermediate_factor=3))


def _inputs(s, n, s_real, n_real, c_m, c_z, seed):
  msa = tt.normal(seed, (s, n, c_m))
  pair = tt.normal(seed + 1, (n, n, c_z))
  msa_mask = tt.padded_mask((s, n), (s_real, n_real), seed=seed + 2)
  seq_mask = np.zeros(n, np.float32)
  seq_mask[:n_real] = 1
  return msa, pair, jnp.asarray(msa_mask), jnp.asarray(seq_mask[:, None] * seq_mask[None])


def _oracle_iteration(cfg, is_extra, name):
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  ocfg = cfg if not dataclasses.is_dataclass(cfg) else tt.to_oracle_config(cfg)

  def fn(msa, pair, msa_mask, pair_mask):
    out = modules.EvoformerIteration(ocfg, ogc, is_extra_msa=is_extra, name=name)(
        {'msa': msa, 'pair': pair}, {'msa': msa_mask, 'pair': pair_mask}, is_training=False)
    return out['msa'], out['pair']
  return fn


@pytest.mark.parametrize('flavour,widths', [
    ('main', 'model_1_ptm'), ('extra', 'model_1_ptm'), ('main', 'odd'), ('extra', 'odd'),
    ('main', 'odd_fused')])
def test_iteration_matches_oracle(flavour, widths):
  is_extra = flavour == 'extra'
  name = 'extra_msa_stack' if is_extra else 'evoformer_iteration'
  if widths == 'model_1_ptm':
    cfg = evoformer.EvoformerIterationConfig()
    c_m, c_z = (64 if is_extra else 256), 128
  else:
    cfg = _odd_config(fused=widths == 'odd_fused')
    c_m, c_z = 15, 9
  args = _inputs(5, 9, 4, 7, c_m, c_z, seed=c_m)
  ours = lambda *a: evoformer.EvoformerIteration(cfg, tt.our_global_config(), is_extra, name=name)(*a)
  (m, z), (m_ref, z_ref), _ = tt.compare_with_oracle(ours, _oracle_iteration(cfg, is_extra, name), args)
  d_msa, d_pair = tt.max_diff(m, m_ref, args[2]), tt.max_diff(z, z_ref, args[3])
  print(f'evoformer iteration {flavour} {widths}: msa max|d| = {d_msa:.2e}, pair max|d| = {d_pair:.2e}')
  assert d_msa <= 1e-4 and d_pair <= 1e-4


def _stack_fn(cfg, is_extra, num_block, gc, is_training=False, unroll=False):
  def fn(msa, pair, msa_mask, pair_mask):
    return evoformer.evoformer_stack(msa, pair, msa_mask, pair_mask, config=cfg, global_config=gc,
                                     num_block=num_block, is_extra_msa=is_extra,
                                     is_training=is_training, unroll=unroll)
  return fn


@pytest.mark.parametrize('is_extra', [False, True])
def test_stack_matches_oracle_layer_stack(is_extra):
  """Our scanned stack == AF2's layer_stack over its EvoformerIteration; same [num_block, ...] params."""
  from alphafold.model import layer_stack as oracle_layer_stack
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  cfg = _odd_config()
  name = 'extra_msa_stack' if is_extra else 'evoformer_iteration'
  args = _inputs(4, 7, 3, 6, 15, 9, seed=3)

  def oracle(msa, pair, msa_mask, pair_mask):
    it = modules.EvoformerIteration(tt.to_oracle_config(cfg), ogc, is_extra_msa=is_extra, name=name)
    body = lambda x: it(x, {'msa': msa_mask, 'pair': pair_mask}, is_training=False)
    out = oracle_layer_stack.layer_stack(3)(body)({'msa': msa, 'pair': pair})
    return out['msa'], out['pair']

  t_ours = hk.transform(_stack_fn(cfg, is_extra, 3, tt.our_global_config()))
  t_oracle = hk.transform(oracle)
  shapes = tt.param_shapes(t_oracle, *args)
  tt.same_tree_structure(tt.param_shapes(t_ours, *args), shapes)
  assert all(v.shape[0] == 3 for d in shapes.values() for v in d.values())
  params = random_params(shapes, seed=4, stacked=True)
  (m, z) = jax.jit(t_ours.apply)(params, jax.random.PRNGKey(0), *args)
  (m_ref, z_ref) = jax.jit(t_oracle.apply)(params, jax.random.PRNGKey(0), *args)
  d = max(tt.max_diff(m, m_ref, args[2]), tt.max_diff(z, z_ref, args[3]))
  print(f'{name} stack of 3 max|d| = {d:.2e}')
  assert d <= 1e-4


def _loss(m, z, args):
  return jnp.sum(jnp.sin(m) * args[2][..., None]) + jnp.sum(jnp.cos(z) * args[3][..., None])


def test_scan_equals_loop_with_dropout():
  """Scanned stack == hand-written loop over sliced params with the same per-layer dropout keys.

  (Gradients through scan == loop and remat on == off are checked on the generic layer stack and
  the Pairformer stack, which compile much faster.)"""
  cfg = _odd_config()
  args = _inputs(4, 6, 3, 5, 15, 9, seed=5)
  gc = tt.our_global_config(deterministic=False)
  t = hk.transform(_stack_fn(cfg, False, 2, gc, True))
  params = random_params(tt.param_shapes(t, *args), seed=6, stacked=True)
  key = jax.random.PRNGKey(7)
  block = hk.transform(lambda *a: evoformer.EvoformerIteration(cfg, gc, False)(*a, is_training=True))

  @jax.jit
  def loop(p):  # the stack's per-layer keys: split off the first key the apply key yields
    k = hk.transform(lambda: hk.next_rng_key()).apply({}, key)
    msa, pair = args[0], args[1]
    for i in range(2):
      k, sub = jax.random.split(k)
      msa, pair = block.apply(jax.tree_util.tree_map(lambda v: v[i], p), sub, msa, pair, *args[2:])
    return msa, pair

  m, z = jax.jit(t.apply)(params, key, *args)
  m_ref, z_ref = loop(params)
  assert tt.max_diff(m, m_ref, args[2]) <= 1e-5 and tt.max_diff(z, z_ref, args[3]) <= 1e-5
  m_other, _ = jax.jit(t.apply)(params, jax.random.PRNGKey(8), *args)
  assert tt.max_diff(m_other, m, args[2]) > 1e-3  # dropout really was active


def test_gradients_finite_with_padding_and_low_memory_policy_equal():
  """Extra-MSA block (global attention, masked means) on padded rows/residues, in training:
  finite, non-zero grads; and the low-memory training policy (ops/memory_policy.py: 2-row
  checkpointed chunks, every sub-layer recomputed in the backward pass) gives the same values
  and gradients with the same parameter tree."""
  from alphafold_jax.ops import memory_policy
  cfg = _odd_config()
  args = _inputs(4, 6, 2, 4, 15, 9, seed=12)
  plain_gc = tt.our_global_config()
  low_gc = dataclasses.replace(memory_policy.low_memory_training(plain_gc), subbatch_size=2,
                               chunk_budget_mib=None)
  block = lambda gc: hk.transform(
      lambda *a: evoformer.EvoformerIteration(cfg, gc, True)(*a, is_training=True))
  t, t_low = block(plain_gc), block(low_gc)
  shapes = tt.param_shapes(t, *args)
  tt.same_tree_structure(tt.param_shapes(t_low, *args), shapes)
  params = random_params(shapes, seed=13)

  def value_and_grads(t):
    loss = lambda p, m, z: _loss(*t.apply(p, None, m, z, *args[2:]), args)
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(params, args[0], args[1])

  (value, grads), (value_low, grads_low) = value_and_grads(t), value_and_grads(t_low)
  leaves = jax.tree_util.tree_leaves(grads)
  assert all(np.isfinite(np.asarray(x)).all() for x in leaves)
  assert all(np.abs(np.asarray(x)).max() > 0 for x in jax.tree_util.tree_leaves(grads[0]))
  print(f'low-memory policy: |dv| = {abs(float(value_low - value)):.1e}, '
        f'grads rel diff = {tt.tree_rel_diff(grads_low, grads):.1e}')
  assert abs(float(value_low - value)) <= 1e-5 * max(1.0, abs(float(value)))
  assert tt.tree_rel_diff(grads_low, grads) <= 1e-5
  jaxpr = str(jax.make_jaxpr(lambda p: t_low.apply(p, None, *args))(params))
  assert jaxpr.count('custom_vjp_call') >= 9 and 'scan' in jaxpr  # remat and chunks active


@pytest.mark.parametrize('is_extra', [False, True])
def test_chunked_equals_unchunked_and_padding_invariance(is_extra):
  cfg = _odd_config()
  s, n = 3, 5
  msa, pair, msa_mask, pair_mask = _inputs(s, n, s, n, 15, 9, seed=8)
  msa_mask = jnp.ones_like(msa_mask)
  ps, pn = 2, 3
  msa_big = tt.normal(9, (s + ps, n + pn, 15), 5.0).at[:s, :n].set(msa)
  pair_big = tt.normal(10, (n + pn, n + pn, 9), 5.0).at[:n, :n].set(pair)
  msa_mask_big = jnp.zeros((s + ps, n + pn)).at[:s, :n].set(1.0)
  pair_mask_big = jnp.zeros((n + pn, n + pn)).at[:n, :n].set(1.0)
  fn = lambda gc: (lambda *a: evoformer.EvoformerIteration(cfg, gc, is_extra)(*a))
  t = hk.transform(fn(tt.our_global_config()))
  t_chunk = hk.transform(fn(tt.our_global_config(subbatch_size=2)))
  params = random_params(tt.param_shapes(t, msa, pair, msa_mask, pair_mask), seed=11)
  m, z = jax.jit(t.apply)(params, None, msa, pair, msa_mask, pair_mask)
  big = (msa_big, pair_big, msa_mask_big, pair_mask_big)
  m_big, z_big = jax.jit(t.apply)(params, None, *big)
  m_chunk, z_chunk = jax.jit(t_chunk.apply)(params, None, *big)
  assert tt.max_diff(m_chunk, m_big, msa_mask_big) <= 1e-5
  assert tt.max_diff(z_chunk, z_big, pair_mask_big) <= 1e-5
  d_pad = max(tt.max_diff(m_big[:s, :n], m), tt.max_diff(z_big[:n, :n], z))
  print(f'padding invariance (extra={is_extra}) max|d| = {d_pad:.2e}')
  assert d_pad <= 1e-5

