"""MSA-stack attentions.

Jumper et al. 2021, Suppl. Alg. 7 "MSARowAttentionWithPairBias", Alg. 8 "MSAColumnAttention",
Alg. 19 "MSAColumnGlobalAttention" (extra-MSA stack).

Shapes: S = MSA rows (sequences), N = residues, c_m = MSA channels, c_z = pair channels,
H = heads. msa [S, N, c_m], msa_mask [S, N], pair [N, N, c_z].
Each module returns the residual update (the Evoformer adds it after dropout).
"""

from __future__ import annotations

import haiku as hk
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
               is_training: bool = False) -> jnp.ndarray:
    """msa [S, N, c_m], msa_mask [S, N], pair [N, N, c_z] -> update [S, N, c_m]."""
    c = self.config
    bias = mask_to_bias(msa_mask, msa.dtype)[:, None, None, :]  # [S, 1, 1, N]
    act = LayerNorm(name='query_norm')(msa)
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
    return Attention(c, self.global_config, msa.shape[-1])(
        act, act, bias, pair_bias,
        chunk_size=memory_policy.chunk_policy(self.global_config, is_training))  # [S, N, c_m]


class MSAColumnAttention(hk.Module):
  """Column-wise gated self-attention over MSA rows (Suppl. Alg. 8)."""

  def __init__(self, config: AttentionBlockConfig, global_config: GlobalConfig,
               name: str = 'msa_column_attention'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, msa: jnp.ndarray, msa_mask: jnp.ndarray,
               is_training: bool = False) -> jnp.ndarray:
    """msa [S, N, c_m], msa_mask [S, N] -> update [S, N, c_m]."""
    msa_t = jnp.swapaxes(msa, 0, 1)  # [N, S, c_m]
    mask_t = jnp.swapaxes(msa_mask, 0, 1)  # [N, S]
    act = LayerNorm(name='query_norm')(msa_t)
    update = self._attend(act, mask_t,
                          memory_policy.chunk_policy(self.global_config, is_training))
    return jnp.swapaxes(update, 0, 1)  # [S, N, c_m]

  @hk.transparent
  def _attend(self, act: jnp.ndarray, mask_t: jnp.ndarray, chunks) -> jnp.ndarray:
    """act [N, S, c_m], mask_t [N, S] -> [N, S, c_m]: each column attends over its rows."""
    bias = mask_to_bias(mask_t, act.dtype)[:, None, None, :]  # [N, 1, 1, S]
    return Attention(self.config, self.global_config, act.shape[-1])(act, act, bias,
                                                                     chunk_size=chunks)


class MSAColumnGlobalAttention(MSAColumnAttention):
  """Column-wise global attention of the extra-MSA stack (Suppl. Alg. 19).

  One query per column and head (the masked mean over rows), single-head keys/values: linear
  in the number of rows, for the thousands of extra sequences.
  """

  def __init__(self, config: AttentionBlockConfig, global_config: GlobalConfig,
               name: str = 'msa_column_global_attention'):
    super().__init__(config, global_config, name=name)

  @hk.transparent
  def _attend(self, act: jnp.ndarray, mask_t: jnp.ndarray, chunks) -> jnp.ndarray:
    """act [N, S, c_m], mask_t [N, S] -> [N, S, c_m]."""
    return GlobalAttention(self.config, self.global_config, act.shape[-1], name='attention')(
        act, act, mask_t.astype(act.dtype), chunk_size=chunks)
