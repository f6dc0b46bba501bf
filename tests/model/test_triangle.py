"""Oracle and property tests for model/triangle.py (Suppl. Alg. 11-14)."""

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from alphafold_jax.model import triangle
from alphafold_jax.model.attention import AttentionBlockConfig, AttentionConfigError
from tests.ops import trunk_testing as tt
from tests.oracle import requires_oracle
from tests.random_params import random_params

pytestmark = requires_oracle


def _as_oracle(cfg):
  return ml_collections.ConfigDict({k: v for k, v in dataclasses.asdict(cfg).items() if v is not None})


def _pair_inputs(n, n_real, c, seed):
  seq_mask = np.zeros(n, np.float32)
  seq_mask[:n_real] = 1
  pair = tt.normal(seed, (n, n, c))
  return pair, jnp.asarray(seq_mask[:, None] * seq_mask[None, :])


@pytest.mark.parametrize('direction', ['outgoing', 'incoming'])
@pytest.mark.parametrize('fused', [False, True])
@pytest.mark.parametrize('c,h', [(128, 128), (7, 5)])
def test_triangle_multiplication_matches_oracle(direction, fused, c, h):
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  make = triangle.outgoing_config if direction == 'outgoing' else triangle.incoming_config
  cfg = make(num_intermediate_channel=h, fuse_projection_weights=fused)
  name = f'triangle_multiplication_{direction}'
  pair, mask = _pair_inputs(9, 7, c, seed=c + h)

  def ours(p, m):
    return triangle.TriangleMultiplication(cfg, tt.our_global_config(), name=name)(p, m)

  def oracle(p, m):
    return modules.TriangleMultiplication(_as_oracle(cfg), ogc, name=name)(p, m, is_training=False)

  out, ref, _ = tt.compare_with_oracle(ours, oracle, (pair, mask))
  d = tt.max_diff(out, ref, mask)
  print(f'triangle multiplication {direction} fused={fused} c={c} max|d| = {d:.2e}')
  assert d <= 1e-4


@pytest.mark.parametrize('orientation', ['per_row', 'per_column'])
@pytest.mark.parametrize('c,num_head,key_dim', [(128, 4, None), (64, 4, 64), (9, 3, None)])
def test_triangle_attention_matches_oracle(orientation, c, num_head, key_dim):
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  cfg = triangle.starting_node_config(num_head=num_head, key_dim=key_dim, value_dim=key_dim,
                                      orientation=orientation)
  name = 'triangle_attention_' + ('starting_node' if orientation == 'per_row' else 'ending_node')
  pair, mask = _pair_inputs(8, 6, c, seed=c)

  def ours(p, m, chunk):
    gc = tt.our_global_config(subbatch_size=chunk)
    return triangle.TriangleAttention(cfg, gc, name=name)(p, m)

  def oracle(p, m, chunk):
    return modules.TriangleAttention(_as_oracle(cfg), ogc, name=name)(p, m, is_training=False)

  out, ref, params = tt.compare_with_oracle(lambda p, m: ours(p, m, None),
                                            lambda p, m: oracle(p, m, None), (pair, mask))
  d = tt.max_diff(out, ref, mask)
  print(f'triangle attention {orientation} c={c} max|d| = {d:.2e}')
  assert d <= 1e-4
  chunked = jax.jit(hk.transform(lambda p, m: ours(p, m, 3)).apply)(params, None, pair, mask)
  assert tt.max_diff(chunked, out) <= 1e-5


@pytest.mark.parametrize('module', ['mult_out', 'mult_in', 'attn_start', 'attn_end'])
def test_triangle_padding_invariance(module):
  """Extra padded residues (filled with garbage) leave the real block unchanged."""
  gc = tt.our_global_config(zero_init=False)
  factory = {
      'mult_out': lambda: triangle.TriangleMultiplication(
          triangle.outgoing_config(num_intermediate_channel=6), gc),
      'mult_in': lambda: triangle.TriangleMultiplication(
          triangle.incoming_config(num_intermediate_channel=6), gc),
      'attn_start': lambda: triangle.TriangleAttention(triangle.starting_node_config(num_head=2), gc),
      'attn_end': lambda: triangle.TriangleAttention(triangle.ending_node_config(num_head=2), gc),
  }[module]
  t = hk.transform(lambda p, m: factory()(p, m))
  n, pad, c = 5, 3, 8
  pair_small, mask_small = _pair_inputs(n, n, c, seed=1)
  pair_big = tt.normal(2, (n + pad, n + pad, c), 5.0).at[:n, :n].set(pair_small)
  mask_big = jnp.zeros((n + pad, n + pad)).at[:n, :n].set(1.0)
  params = random_params(tt.param_shapes(t, pair_small, mask_small), seed=3)
  apply = jax.jit(t.apply)
  small = apply(params, None, pair_small, mask_small)
  big = apply(params, None, pair_big, mask_big)
  assert tt.max_diff(big[:n, :n], small) <= 1e-5
  assert np.isfinite(np.asarray(big)).all()


def test_outgoing_and_incoming_differ_and_transpose():
  """Incoming on the transposed pair == transposed outgoing (same params), yet they differ on one pair."""
  gc = tt.our_global_config()
  out_cfg = triangle.outgoing_config(num_intermediate_channel=4)
  in_cfg = triangle.incoming_config(num_intermediate_channel=4)
  t_out = hk.transform(lambda p, m: triangle.TriangleMultiplication(out_cfg, gc, name='tri')(p, m))
  t_in = hk.transform(lambda p, m: triangle.TriangleMultiplication(in_cfg, gc, name='tri')(p, m))
  pair, mask = _pair_inputs(5, 5, 6, seed=4)
  pair = pair.at[:, :, 0].add(jnp.arange(5.0)[:, None])  # make the pair non-symmetric
  params = random_params(tt.param_shapes(t_out, pair, mask), seed=5)
  a = t_out.apply(params, None, pair, mask)
  # incoming(z^T)_ij = sum_k L(z^T)_kj R(z^T)_ki = sum_k L(z)_jk R(z)_ik = outgoing(z)_ji, and every
  # other step is position-wise, so incoming on the transposed pair is the transposed outgoing.
  b = t_in.apply(params, None, jnp.swapaxes(pair, 0, 1), mask)
  assert tt.max_diff(jnp.swapaxes(b, 0, 1), a) <= 1e-5
  assert tt.max_diff(t_in.apply(params, None, pair, mask), a) > 1e-3


def test_bad_config_raises():
  with pytest.raises(triangle.TriangleConfigError, match='equation'):
    triangle.TriangleMultiplicationConfig(equation='ijc,jkc->ikc')
  with pytest.raises(AttentionConfigError, match='orientation'):
    AttentionBlockConfig(orientation='diagonal')
