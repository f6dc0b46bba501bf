"""Outer product mean: the MSA -> pair communication (Jumper et al. 2021, Suppl. Alg. 10).

  a_si, b_si = Linear(LayerNorm(m_si))     (c channels each, masked)
  o_ij = Linear(flatten(sum_s a_si (x) b_sj)) / (eps + sum_s mask_si mask_sj)

Shapes: S = MSA rows, N = residues, c_m = MSA channels, c = outer channels (32),
c_z = pair channels. msa [S, N, c_m], msa_mask [S, N], output [N, N, c_z].
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.nn import LayerNorm, Linear
from alphafold_jax.ops import chunking, inplace, memory_policy

_NORM_EPSILON = 1e-3


@dataclasses.dataclass(frozen=True)
class OuterProductMeanConfig:
  """model_1_ptm `outer_product_mean`. `first`: run it before the MSA attentions (AF-multimer
  order); AF2 monomer runs it after the MSA transition. `chunk_size`: residues per chunk at
  inference when fixed-rows chunking is on (AF2's own setting, independent of subbatch_size)."""
  num_outer_channel: int = 32
  chunk_size: int = 128
  dropout_rate: float = 0.0
  orientation: str = 'per_row'
  shared_dropout: bool = True
  first: bool = False


class OuterProductMean(hk.Module):
  """Masked mean over MSA rows of the outer products of two projections (Suppl. Alg. 10).

  DISCREPANCY: the paper averages the outer product and then applies the linear layer; DeepMind's
  code applies the layer (with its bias) to the SUM and divides the result, bias included, by
  (1e-3 + number of row pairs). Implemented as DeepMind does, so official weights transfer.
  """

  def __init__(self, config: OuterProductMeanConfig, global_config: GlobalConfig,
               num_output_channel: int, name: str = 'outer_product_mean'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config
    self.num_output_channel = num_output_channel

  def __call__(self, msa: jnp.ndarray, msa_mask: jnp.ndarray, is_training: bool = False, *,
               add_to: Optional[jnp.ndarray] = None) -> jnp.ndarray:
    """msa [S, N, c_m], msa_mask [S, N] -> pair update [N, N, c_z]; with add_to = pair
    (inference, set by the memory policy) pair + update, in place by blocks of pair rows."""
    if add_to is not None:
      return self._residual_inplace(add_to, msa, msa_mask)
    mask, left, right, rows_of_pair = self._parts(msa, msa_mask)
    chunks = memory_policy.chunk_policy(self.global_config, is_training, rows=self.config.chunk_size)
    update = chunking.chunked_map(rows_of_pair, chunks, [left], [right],
                                  in_axis=1, out_axis=0)  # [N, N, c_z]
    norm = jnp.einsum('si,sj->ij', mask[..., 0], mask[..., 0])[..., None]  # [N, N, 1]
    return update / (_NORM_EPSILON + norm)

  @hk.transparent
  def _residual_inplace(self, pair: jnp.ndarray, msa: jnp.ndarray,
                       msa_mask: jnp.ndarray) -> jnp.ndarray:
    """pair + self(msa, msa_mask), in blocks of pair rows written back in place (inference)."""
    mask, left, right, rows_of_pair = self._parts(msa, msa_mask)
    c = self.config.num_outer_channel
    rows = memory_policy.pair_update_rows(self.global_config, pair.shape[1] * c * c * 4)

    def row_update(x, start):  # x [n, N, c_z] -> [n, N, c_z]
      n = x.shape[0]
      left_rows = jax.lax.dynamic_slice_in_dim(left, start, n, 1)  # [S, n, c]
      mask_rows = jax.lax.dynamic_slice_in_dim(mask[..., 0], start, n, 1)  # [S, n]
      norm = jnp.einsum('si,sj->ij', mask_rows, mask[..., 0])[..., None]  # [n, N, 1]
      return (rows_of_pair(left_rows, right) / (_NORM_EPSILON + norm)).astype(x.dtype)

    return inplace.update_rows_inplace(pair, row_update, rows, compute_dtype=msa.dtype)

  @hk.transparent
  def _parts(self, msa, msa_mask):
    """mask [S, N, 1], left/right projections [S, N, c], and rows_of_pair(left rows, right)."""
    c = self.config
    mask = msa_mask[..., None].astype(msa.dtype)  # [S, N, 1]
    act = LayerNorm(name='layer_norm_input')(msa)
    left = mask * Linear(c.num_outer_channel, name='left_projection')(act)  # [S, N, c]
    right = mask * Linear(c.num_outer_channel, name='right_projection')(act)  # [S, N, c]
    init_w = (hk.initializers.Constant(0.0) if self.global_config.zero_init else
              hk.initializers.VarianceScaling(scale=2.0, mode='fan_in'))
    output_w = hk.get_parameter(
        'output_w', (c.num_outer_channel, c.num_outer_channel, self.num_output_channel),
        msa.dtype, init_w)
    output_b = hk.get_parameter('output_b', (self.num_output_channel,), msa.dtype,
                                hk.initializers.Constant(0.0))

    def rows_of_pair(left_chunk, right_all):
      outer = jnp.einsum('sic,sje->ijce', left_chunk, right_all)  # [n_i, N, c, c]
      return jnp.einsum('ijce,cef->ijf', outer, output_w) + output_b  # [n_i, N, c_z]

    return mask, left, right, rows_of_pair
