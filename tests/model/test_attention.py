"""Oracle and property tests for model/attention.py (gated attention, global attention)."""

import haiku as hk
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from alphafold_jax.model.attention import (HEADS_FIRST_MIN_LOGITS, Attention, AttentionConfig,
                                          AttentionConfigError, GlobalAttention, mask_to_bias)
from tests.ops import trunk_testing as tt
from tests.oracle import requires_oracle
from tests.random_params import random_params

pytestmark = requires_oracle


def _oracle_cfg(num_head, key_dim=None, value_dim=None, gating=True):
  d = {'num_head': num_head, 'gating': gating}
  if key_dim is not None:
    d['key_dim'] = key_dim
  if value_dim is not None:
    d['value_dim'] = value_dim
  return ml_collections.ConfigDict(d)


@pytest.mark.parametrize('num_head,key_dim,value_dim,gating,a,o,Q', [
    (8, None, None, True, 256, 256, 7),  # MSA row attention width
    (4, 64, 64, False, 64, 64, 7),        # template point-wise attention flavour
    (3, 9, 15, True, 7, 5, 7),            # small odd widths
    (3, 9, 15, True, 7, 5, 67),           # B*H*Q*K > HEADS_FIRST_MIN_LOGITS: heads-first layout
    (2, None, None, False, 6, 5, 83),
])
def test_attention_matches_oracle(num_head, key_dim, value_dim, gating, a, o, Q):
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  B = 5
  heads_first = B * num_head * Q * Q > HEADS_FIRST_MIN_LOGITS
  assert heads_first == (Q > 64)  # and 2-row chunks (below) always use the other layout
  assert 2 * num_head * Q * Q <= HEADS_FIRST_MIN_LOGITS
  q = tt.normal(1, (B, Q, a))
  m = tt.normal(2, (B, Q, a))
  mask = tt.padded_mask((B, Q), (4, Q - 2), seed=3)
  bias = mask_to_bias(jnp.asarray(mask), jnp.float32)[:, None, None, :]
  shared = tt.normal(4, (num_head, Q, Q))
  cfg = AttentionConfig(num_head=num_head, key_dim=key_dim, value_dim=value_dim, gating=gating)

  def ours(q, m, bias, shared):
    return Attention(cfg, tt.our_global_config(), o)(q, m, bias, shared)

  def oracle(q, m, bias, shared):
    return modules.Attention(_oracle_cfg(num_head, key_dim, value_dim, gating), ogc, o)(q, m, bias, shared)

  out, ref, params = tt.compare_with_oracle(ours, oracle, (q, m, bias, shared))
  real_q = mask[:, :, None].any(axis=1)  # rows with at least one real key
  d = tt.max_diff(out, ref, np.broadcast_to(real_q, (B, Q)))
  print(f'attention max|d| = {d:.2e}')
  assert d <= 1e-4
  # Chunked == unchunked.
  t = hk.transform(lambda *x: Attention(cfg, tt.our_global_config(), o)(*x[:4], chunk_size=2))
  assert tt.max_diff(jax.jit(t.apply)(params, None, q, m, bias, shared), out) <= 1e-5


@pytest.mark.parametrize('gating,a,num_head', [(True, 64, 8), (False, 11, 1), (True, 9, 3)])
def test_global_attention_matches_oracle(gating, a, num_head):
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  B, K = 7, 5
  x = tt.normal(5, (B, K, a))
  mask = tt.padded_mask((B, K), (6, 4), seed=6)
  cfg = AttentionConfig(num_head=num_head, gating=gating)

  def ours(x, mask):
    return GlobalAttention(cfg, tt.our_global_config(), a)(x, x, mask)

  def oracle(x, mask):
    return modules.GlobalAttention(_oracle_cfg(num_head, gating=gating), ogc, a)(x, x, mask[..., None])

  out, ref, params = tt.compare_with_oracle(ours, oracle, (x, jnp.asarray(mask)))
  ref = jnp.broadcast_to(ref, out.shape)
  d = tt.max_diff(out, ref, mask)
  print(f'global attention max|d| = {d:.2e}')
  assert d <= 1e-4
  t = hk.transform(lambda x, m: GlobalAttention(cfg, tt.our_global_config(), a)(x, x, m, chunk_size=3))
  assert tt.max_diff(jax.jit(t.apply)(params, None, x, jnp.asarray(mask)), out) <= 1e-5


def test_masked_keys_do_not_leak():
  """Changing a masked key/value position changes nothing at real queries."""
  cfg = AttentionConfig(num_head=2)
  t = hk.transform(lambda q, m, b: Attention(cfg, tt.our_global_config(zero_init=False), 6)(q, m, b))
  q = tt.normal(1, (3, 5, 6))
  mask = np.ones((3, 5), np.float32)
  mask[:, 3:] = 0
  bias = mask_to_bias(jnp.asarray(mask), jnp.float32)[:, None, None, :]
  params = random_params(tt.param_shapes(t, q, q, bias), 2)
  out1 = t.apply(params, None, q, q, bias)
  m2 = q.at[:, 3:].set(tt.normal(9, (3, 2, 6), 10.0))
  out2 = t.apply(params, None, q, m2, bias)
  assert tt.max_diff(out1, out2) <= 1e-5
  assert np.isfinite(np.asarray(out1)).all()


def test_bad_head_split_raises():
  cfg = AttentionConfig(num_head=3)
  t = hk.transform(lambda q: Attention(cfg, tt.our_global_config(), 4)(q, q, jnp.zeros((1, 1, 1, 5))))
  with pytest.raises(AttentionConfigError, match='divisible by num_head'):
    t.init(jax.random.PRNGKey(0), jnp.ones((1, 5, 8)))
