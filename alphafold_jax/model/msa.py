"""MSA-stack attentions.

Jumper et al. 2021, Suppl. Alg. 7 "MSARowAttentionWithPairBias", Alg. 8 "MSAColumnAttention",
Alg. 19 "MSAColumnGlobalAttention" (extra-MSA stack).

Shapes: S = MSA rows (sequences), N = residues, c_m = MSA channels, c_z = pair channels,
H = heads. msa [S, N, c_m], msa_mask [S, N], pair [N, N, c_z].
Each module returns the residual update (the Evoformer adds it after dropout), or with
add_to_input (inference under the long-sequence policy, ops/memory_policy.py) msa + update,
written back block by block into the same buffer (ops/inplace.py): rows of sequences for the
row attention, columns of residues for the column attentions; no second [S, N, c_m] copy.
"""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.model.attention import (Attention, AttentionBlockConfig, GlobalAttention,
                                           mask_to_bias)
from alphafold_jax.nn import LayerNorm
from alphafold_jax.ops import inplace, memory_policy


def row_attention_config(**overrides) -> AttentionBlockConfig:
  """model_1_ptm `msa_row_attention_with_pair_bias` (key/value widths default to c_m)."""
  return AttentionBlockConfig(**{**dict(num_head=8, dropout_rate=0.15, orientation='per_row'),
                                 **overrides})


def column_attention_config(**overrides) -> AttentionBlockConfig:
  """model_1_ptm `msa_column_attention`; also drives the extra-MSA global column attention."""
  return AttentionBlockConfig(**{**dict(num_head=8, dropout_rate=0.0, orientation='per_column'),
                                 **overrides})


class MSARowAttentionWithPairBias(hk.Module):
  """Row-wise gated self-attention over residues, biased by the pair (Suppl. Alg. 7).

  b^h_ij = LinearNoBias(LayerNorm(z_ij)) is shared by every MSA row.
  """

  def __init__(self, config: AttentionBlockConfig, global_config: GlobalConfig,
               name: str = 'msa_row_attention_with_pair_bias'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, msa: jnp.ndarray, msa_mask: jnp.ndarray, pair: jnp.ndarray,
               is_training: bool = False, *, add_to_input: bool = False) -> jnp.ndarray:
    """msa [S, N, c_m], msa_mask [S, N], pair [N, N, c_z] -> update [S, N, c_m]
    (add_to_input: msa + update, in place by blocks of sequences)."""
    c = self.config
    query_norm = LayerNorm(name='query_norm')
    feat_2d_weights = hk.get_parameter(
        'feat_2d_weights', (pair.shape[-1], c.num_head), msa.dtype,
        hk.initializers.RandomNormal(stddev=1.0 / pair.shape[-1]**0.5))
    feat_2d_norm = LayerNorm(name='feat_2d_norm')
    bias_of_rows = lambda rows, _: jnp.einsum('qkc,ch->hqk', feat_2d_norm(rows),
                                              feat_2d_weights)  # [H, n, N]
    if memory_policy.inplace_pair(self.global_config, is_training):  # no whole LayerNorm(pair)
      pair_bias = inplace.build_from_rows(
          pair, bias_of_rows, memory_policy.pair_update_rows(self.global_config,
                                                             4 * pair.shape[1] * pair.shape[2]),
          out_axis=1, compute_dtype=msa.dtype)  # [H, N, N]
    else:
      pair_bias = bias_of_rows(pair, 0)  # [H, N, N]
    attention = Attention(c, self.global_config, msa.shape[-1])

    def update(rows, row_mask, chunks):  # rows [s, N, c_m], row_mask [s, N] -> [s, N, c_m]
      act = query_norm(rows)
      bias = mask_to_bias(row_mask, rows.dtype)[:, None, None, :]  # [s, 1, 1, N]
      return attention(act, act, bias, pair_bias, chunk_size=chunks)

    if add_to_input:
      num_res = msa.shape[1]
      rows = memory_policy.pair_update_rows(self.global_config, 4 * c.num_head * num_res * num_res)
      return inplace.update_rows_inplace(msa, lambda x, start: update(
          x, jax.lax.dynamic_slice_in_dim(msa_mask, start, x.shape[0], 0), None), rows)
    return update(msa, msa_mask, memory_policy.chunk_policy(self.global_config, is_training))


class MSAColumnAttention(hk.Module):
  """Column-wise gated self-attention over MSA rows (Suppl. Alg. 8)."""

  def __init__(self, config: AttentionBlockConfig, global_config: GlobalConfig,
               name: str = 'msa_column_attention'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, msa: jnp.ndarray, msa_mask: jnp.ndarray,
               is_training: bool = False, *, add_to_input: bool = False) -> jnp.ndarray:
    """msa [S, N, c_m], msa_mask [S, N] -> update [S, N, c_m]
    (add_to_input: msa + update, in place by blocks of residue columns)."""
    query_norm = LayerNorm(name='query_norm')
    attention = self._attention(msa.shape[-1])

    def update(cols, col_mask, chunks):  # cols [n, S, c_m], col_mask [n, S] -> [n, S, c_m]
      return self._attend(attention, query_norm(cols), col_mask, chunks)

    if add_to_input:
      rows = memory_policy.pair_update_rows(self.global_config, self._column_bytes(msa.shape))
      return inplace.update_rows_inplace(msa, lambda x, start: update(
          x, jnp.swapaxes(jax.lax.dynamic_slice_in_dim(msa_mask, start, x.shape[0], 1), 0, 1),
          None), rows, axis=1)
    chunks = memory_policy.chunk_policy(self.global_config, is_training)
    out = update(jnp.swapaxes(msa, 0, 1), jnp.swapaxes(msa_mask, 0, 1), chunks)  # [N, S, c_m]
    return jnp.swapaxes(out, 0, 1)  # [S, N, c_m]

  @hk.transparent
  def _attention(self, num_channel: int) -> hk.Module:
    return Attention(self.config, self.global_config, num_channel)

  def _column_bytes(self, msa_shape) -> int:
    """Widest intermediate of one column (float32): the [H, S, S] logits."""
    return 4 * self.config.num_head * msa_shape[0] ** 2

  @staticmethod
  def _attend(attention, act: jnp.ndarray, mask_t: jnp.ndarray, chunks) -> jnp.ndarray:
    """act [n, S, c_m], mask_t [n, S] -> [n, S, c_m]: each column attends over its rows."""
    bias = mask_to_bias(mask_t, act.dtype)[:, None, None, :]  # [n, 1, 1, S]
    return attention(act, act, bias, chunk_size=chunks)


class MSAColumnGlobalAttention(MSAColumnAttention):
  """Column-wise global attention of the extra-MSA stack (Suppl. Alg. 19).

  One query per column and head (the masked mean over rows), single-head keys/values: linear
  in the number of rows, for the thousands of extra sequences.
  """

  def __init__(self, config: AttentionBlockConfig, global_config: GlobalConfig,
               name: str = 'msa_column_global_attention'):
    super().__init__(config, global_config, name=name)

  @hk.transparent
  def _attention(self, num_channel: int) -> hk.Module:
    return GlobalAttention(self.config, self.global_config, num_channel, name='attention')

  def _column_bytes(self, msa_shape) -> int:
    """Widest intermediates of one column (float32): normalised rows, values, gates [S, c_m]."""
    return 4 * 4 * msa_shape[0] * msa_shape[2]

  @staticmethod
  def _attend(attention, act: jnp.ndarray, mask_t: jnp.ndarray, chunks) -> jnp.ndarray:
    """act [n, S, c_m], mask_t [n, S] -> [n, S, c_m]."""
    return attention(act, act, mask_t.astype(act.dtype), chunk_size=chunks)
