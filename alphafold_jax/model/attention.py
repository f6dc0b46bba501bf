"""Gated multi-head attention and global attention (the shared core of the Evoformer's attentions).

`Attention` is the gated self/cross attention with a mask bias and an optional shared
("non-batched") bias used by MSA row attention with pair bias (Suppl. Alg. 7), MSA column
attention (Alg. 8), triangle attention (Alg. 13/14) and the template point-wise attention
(Alg. 17). `GlobalAttention` is the extra-MSA column global attention core (Alg. 19 lines 2-7).

Shapes: B = batch rows the attention runs over independently, Q = queries, K = keys,
a = query channels, m = memory channels, H = heads, c = per-head key/value channels,
o = output channels.

Parameter names and shapes follow AF2 v2.3 (`query_w` [a, H, c], `key_w`, `value_w`,
`gating_w` [a, H, c], `gating_b` [H, c], `output_w` [H, c, o], `output_b` [o]); the global
attention's `key_w`/`value_w` are single-head [m, c].
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.ops import chunking


# Logits per call (B * H * Q * K) above which the per-head tensors are kept heads-first
# (see Attention; B is the chunk's batch when chunked).
HEADS_FIRST_MIN_LOGITS = 2 ** 16


class AttentionConfigError(ValueError):
  """Raised when key/value widths do not divide into the heads."""


@dataclasses.dataclass(frozen=True)
class AttentionConfig:
  """num_head heads; key_dim/value_dim are totals over heads (None = input width)."""
  num_head: int = 8
  key_dim: Optional[int] = None
  value_dim: Optional[int] = None
  gating: bool = True


@dataclasses.dataclass(frozen=True)
class AttentionBlockConfig(AttentionConfig):
  """An attention sub-layer of a trunk block: the attention plus its residual dropout.

  One type for MSA row attention with pair bias (Suppl. Alg. 7), MSA column (global) attention
  (Alg. 8/19) and triangle attention (Alg. 13/14); their AF2 defaults come from the factories
  `msa.row_attention_config`, `msa.column_attention_config`, `triangle.starting_node_config`
  and `triangle.ending_node_config`. orientation: the dropout mask is shared along rows
  ('per_row') or columns ('per_column'); triangle attention also reads it as starting node
  ('per_row') or ending node ('per_column').
  """
  dropout_rate: float = 0.0
  orientation: str = 'per_row'
  shared_dropout: bool = True

  def __post_init__(self):
    if self.orientation not in ('per_row', 'per_column'):
      raise AttentionConfigError(
          f"attention orientation must be 'per_row' (rows / starting node) or 'per_column' "
          f'(columns / ending node), got {self.orientation!r}')


def _glorot_uniform() -> hk.initializers.Initializer:
  return hk.initializers.VarianceScaling(scale=1.0, mode='fan_avg', distribution='uniform')


def _gating_params(gating: bool, q_channels: int, num_head: int, value_dim: int, dtype):
  """gating_w [a, H, c] (zeros) and gating_b [H, c] (ones), or (None, None) without a gate."""
  if not gating:
    return None, None
  return (hk.get_parameter('gating_w', (q_channels, num_head, value_dim), dtype,
                           hk.initializers.Constant(0.0)),
          hk.get_parameter('gating_b', (num_head, value_dim), dtype,
                           hk.initializers.Constant(1.0)))


def _output_params(num_head: int, value_dim: int, output_dim: int, dtype,
                   global_config: GlobalConfig):
  """output_w [H, c, o] (zeros under zero_init, else Glorot uniform) and output_b [o] (zeros)."""
  init = hk.initializers.Constant(0.0) if global_config.zero_init else _glorot_uniform()
  return (hk.get_parameter('output_w', (num_head, value_dim, output_dim), dtype, init),
          hk.get_parameter('output_b', (output_dim,), dtype, hk.initializers.Constant(0.0)))


def mask_to_bias(mask: jnp.ndarray, dtype) -> jnp.ndarray:
  """0 where mask is 1, -1e9 where it is 0 (AF2's additive attention mask)."""
  return (1e9 * (mask.astype(jnp.float32) - 1.0)).astype(dtype)


def _query_params(config, q_data: jnp.ndarray, m_data: jnp.ndarray):
  """Per-head key and value widths, and `query_w` [a, H, key width] (Glorot uniform)."""
  key_dim = config.key_dim if config.key_dim is not None else q_data.shape[-1]
  value_dim = config.value_dim if config.value_dim is not None else m_data.shape[-1]
  if key_dim % config.num_head or value_dim % config.num_head:
    raise AttentionConfigError(
        f'key_dim {key_dim} and value_dim {value_dim} must be divisible by '
        f'num_head {config.num_head}')
  key_dim, value_dim = key_dim // config.num_head, value_dim // config.num_head
  query_w = hk.get_parameter('query_w', (q_data.shape[-1], config.num_head, key_dim),
                             q_data.dtype, _glorot_uniform())
  return key_dim, value_dim, query_w


class Attention(hk.Module):
  """Gated multi-head attention with mask bias and shared bias (Suppl. Alg. 7 lines 2-7, Alg. 8, 13, 14).

  o_q = Linear(sigmoid(Linear_g(q)) * softmax_k(q.k / sqrt(c) + bias + shared_bias) v).
  """

  def __init__(self, config, global_config: GlobalConfig, output_dim: int, name: str = 'attention'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config
    self.output_dim = output_dim

  def __call__(self, q_data: jnp.ndarray, m_data: jnp.ndarray, mask_bias: jnp.ndarray,
               shared_bias: Optional[jnp.ndarray] = None, *,
               chunk_size: Union[chunking.ChunkPolicy, int, None] = None) -> jnp.ndarray:
    """q_data [B, Q, a], m_data [B, K, m], mask_bias broadcastable to [B, H, Q, K] (AF2: [B, 1, 1, K]),
    shared_bias [H, Q, K] or None. Returns [B, Q, o].

    chunk_size subbatches B: a ChunkPolicy (from `ops.memory_policy.chunk_policy`), rows, or None.
    """
    c, num_head, dtype = self.config, self.config.num_head, q_data.dtype
    key_dim, value_dim, query_w = _query_params(c, q_data, m_data)  # query_w [a, H, c]
    key_w = hk.get_parameter('key_w', (m_data.shape[-1], num_head, key_dim), dtype,
                             _glorot_uniform())
    value_w = hk.get_parameter('value_w', (m_data.shape[-1], num_head, value_dim), dtype,
                               _glorot_uniform())
    gating_w, gating_b = _gating_params(c.gating, q_data.shape[-1], num_head, value_dim, dtype)
    output_w, output_b = _output_params(num_head, value_dim, self.output_dim, dtype,
                                        self.global_config)

    # Layout (speed only, same values up to float reassociation in the matmuls). Per-head
    # tensors are kept as [B, H, Q, c] (heads first: the layout of the batched score and
    # average matmuls) when a call's logits are large, and as [B, Q, H, c] (the projection
    # GEMMs' natural layout) when they are small. Measured on CPU: heads-first is 1.2-2.5x
    # faster from ~2^17 logits per call up (XLA no longer transposes around the big matmuls,
    # nor normalises a strided softmax), ~10% slower at 2^15-2^16.
    def equations(batch):
      if batch * num_head * q_data.shape[1] * m_data.shape[1] > HEADS_FIRST_MIN_LOGITS:
        return dict(proj_q='bqa,ahc->bhqc', proj_k='bka,ahc->bhkc', logits='bhqc,bhkc->bhqk',
                    avg='bhqk,bhkc->bhqc', out='bhqc,hco->bqo', gate_b=gating_b[:, None]
                    if c.gating else None)  # gating_b [H, c] -> [H, 1, c]
      return dict(proj_q='bqa,ahc->bqhc', proj_k='bka,ahc->bkhc', logits='bqhc,bkhc->bhqk',
                  avg='bhqk,bkhc->bqhc', out='bqhc,hco->bqo', gate_b=gating_b if c.gating else None)

    def attend(q_in, m_in, bias):
      eq = equations(q_in.shape[0])
      q = jnp.einsum(eq['proj_q'], q_in, query_w) * key_dim**-0.5  # [B, H, Q, c] | [B, Q, H, c]
      k = jnp.einsum(eq['proj_k'], m_in, key_w)  # [B, H, K, c] | [B, K, H, c]
      v = jnp.einsum(eq['proj_k'], m_in, value_w)  # [B, H, K, c] | [B, K, H, c]
      logits = jnp.einsum(eq['logits'], q, k) + bias  # [B, H, Q, K]
      if shared_bias is not None:
        logits = logits + shared_bias[None]  # + [1, H, Q, K]
      weights = jax.nn.softmax(logits, axis=-1)  # [B, H, Q, K]
      avg = jnp.einsum(eq['avg'], weights, v)  # [B, H, Q, c] | [B, Q, H, c]
      if c.gating:
        gate = jnp.einsum(eq['proj_q'], q_in, gating_w) + eq['gate_b']  # as avg
        avg = avg * jax.nn.sigmoid(gate)
      return jnp.einsum(eq['out'], avg, output_w) + output_b  # [B, Q, o]

    mask_bias = jnp.broadcast_to(mask_bias, (q_data.shape[0],) + mask_bias.shape[1:])
    return chunking.chunked_map(attend, chunk_size, [q_data, m_data, mask_bias])


class GlobalAttention(hk.Module):
  """Global gated attention: one averaged query per head (Suppl. Alg. 19 lines 2-7).

  The query is the masked mean of the inputs; keys and values are single-head and shared by
  all heads; the gate is per query, so every query gets its own gated copy of the average.
  """

  def __init__(self, config, global_config: GlobalConfig, output_dim: int, name: str = 'attention'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config
    self.output_dim = output_dim

  def __call__(self, q_data: jnp.ndarray, m_data: jnp.ndarray, q_mask: jnp.ndarray, *,
               chunk_size: Union[chunking.ChunkPolicy, int, None] = None) -> jnp.ndarray:
    """q_data [B, Q, a], m_data [B, K, m] (K == Q, AF2 self-attention), q_mask [B, Q].

    Returns [B, Q, o]; chunk_size subbatches B (a ChunkPolicy, rows, or None).
    """
    c, num_head, dtype = self.config, self.config.num_head, q_data.dtype
    key_dim, value_dim, query_w = _query_params(c, q_data, m_data)  # query_w [a, H, c]
    key_w = hk.get_parameter('key_w', (m_data.shape[-1], key_dim), dtype, _glorot_uniform())
    value_w = hk.get_parameter('value_w', (m_data.shape[-1], value_dim), dtype, _glorot_uniform())
    output_w, output_b = _output_params(num_head, value_dim, self.output_dim, dtype,
                                        self.global_config)
    gating_w, gating_b = _gating_params(c.gating, q_data.shape[-1], num_head, value_dim, dtype)

    def attend(q_in, m_in, mask):
      mask = mask.astype(q_in.dtype)
      # masked mean over the Q positions: [B, Q] x [B, Q, a] -> [B, a]
      q_avg = (jnp.einsum('bq,bqa->ba', mask, q_in) /
               (jnp.sum(mask, axis=1, keepdims=True) + 1e-10))  # [B, a]
      q = jnp.einsum('ba,ahc->bhc', q_avg, query_w) * key_dim**-0.5  # [B, H, c]
      k = jnp.einsum('bka,ac->bkc', m_in, key_w)  # [B, K, c]
      v = jnp.einsum('bka,ac->bkc', m_in, value_w)  # [B, K, c]
      logits = jnp.einsum('bhc,bkc->bhk', q, k) + mask_to_bias(mask, q_in.dtype)[:, None, :]  # [B, H, K]
      weights = jax.nn.softmax(logits, axis=-1)  # [B, H, K]
      avg = jnp.einsum('bhk,bkc->bhc', weights, v)  # [B, H, c]
      if c.gating:
        gate = jax.nn.sigmoid(jnp.einsum('bqa,ahc->bqhc', q_in, gating_w) + gating_b)  # [B, Q, H, c]
        return jnp.einsum('bqhc,hco->bqo', avg[:, None] * gate, output_w) + output_b  # [B, Q, o]
      out = jnp.einsum('bhc,hco->bo', avg, output_w) + output_b  # [B, o]
      return jnp.broadcast_to(out[:, None], (q_in.shape[0], q_in.shape[1], self.output_dim))

    return chunking.chunked_map(attend, chunk_size, [q_data, m_data, q_mask])
