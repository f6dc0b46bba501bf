"""Evoformer block and stacks: main Evoformer (Suppl. Alg. 6) and extra-MSA stack (Alg. 18).

One class, `EvoformerIteration`, runs both flavours (as AF2 does): the extra-MSA flavour swaps
MSA column attention (Alg. 8) for global column attention (Alg. 19) and runs at c_m = 64.
Block order (AF2 monomer, `outer_product_mean.first` False):

  m += RowAttentionWithPairBias(m, z)  [dropout 0.15, shared per row]
  m += ColumnAttention(m) | ColumnGlobalAttention(m)
  m += MSATransition(m)
  z += OuterProductMean(m)
  z += TriangleMultiplicationOutgoing(z) [0.25 per row]; z += ...Incoming(z) [0.25 per row]
  z += TriangleAttentionStartingNode(z) [0.25 per row]; z += ...EndingNode(z) [0.25 per column]
  z += PairTransition(z)

Shapes: S = MSA rows, N = residues. msa [S, N, c_m], pair [N, N, c_z], msa_mask [S, N],
pair_mask [N, N]. Parameter scopes as AF2 v2.3: `evoformer_iteration/...` and
`extra_msa_stack/...` with a leading [num_block] axis from the layer stack.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import haiku as hk
import jax.numpy as jnp

from alphafold_jax.model.attention import AttentionBlockConfig
from alphafold_jax.model.msa import (MSAColumnAttention, MSAColumnGlobalAttention,
                                     MSARowAttentionWithPairBias, column_attention_config,
                                     row_attention_config)
from alphafold_jax.model.outer_product_mean import OuterProductMean, OuterProductMeanConfig
from alphafold_jax.model.pair_stack import PairStackConfig, pair_stack
from alphafold_jax.model.residual import residual
from alphafold_jax.model.transition import Transition, TransitionConfig
from alphafold_jax.ops import memory_policy, sharding_rules
from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.ops.layer_stack import layer_stack

_field = dataclasses.field


@dataclasses.dataclass(frozen=True)
class EvoformerIterationConfig(PairStackConfig):
  """AF2 model_1_ptm `embeddings_and_evoformer.evoformer` (shared by the extra-MSA stack);
  the five pair sub-layers' fields come from PairStackConfig."""
  msa_row_attention_with_pair_bias: AttentionBlockConfig = _field(
      default_factory=row_attention_config)
  msa_column_attention: AttentionBlockConfig = _field(default_factory=column_attention_config)
  msa_transition: TransitionConfig = _field(default_factory=TransitionConfig)
  outer_product_mean: OuterProductMeanConfig = _field(default_factory=OuterProductMeanConfig)


class EvoformerIteration(hk.Module):
  """One Evoformer block (Suppl. Alg. 6 lines 2-10) or extra-MSA block (Alg. 18 lines 2-10)."""

  def __init__(self, config: EvoformerIterationConfig, global_config: GlobalConfig,
               is_extra_msa: bool, name: str = 'evoformer_iteration'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config
    self.is_extra_msa = is_extra_msa

  def __call__(self, msa: jnp.ndarray, pair: jnp.ndarray, msa_mask: jnp.ndarray,
               pair_mask: jnp.ndarray, is_training: bool = False
               ) -> Tuple[jnp.ndarray, jnp.ndarray]:
    """msa [S, N, c_m], pair [N, N, c_z], msa_mask [S, N], pair_mask [N, N] -> (msa, pair)."""
    c, gc = self.config, self.global_config
    msa_mask = msa_mask.astype(msa.dtype)
    pair_mask = pair_mask.astype(pair.dtype)

    def res(act, module, sub, *args):  # act + Dropout(module(*args)), model/residual.py
      return residual(act, module, sub, *args, global_config=gc, is_training=is_training)

    outer = OuterProductMean(c.outer_product_mean, gc, pair.shape[-1], name='outer_product_mean')

    def outer_product_mean(pair):
      pair = sharding_rules.constrain(pair, 'pair_rows', gc)
      if memory_policy.inplace_pair(gc, is_training):  # pair + update, in place by row blocks
        return outer(msa, msa_mask, is_training, add_to=pair)
      return res(pair, outer, c.outer_product_mean, msa, msa_mask)

    if c.outer_product_mean.first:
      pair = outer_product_mean(pair)

    # In place (long-sequence inference): each sub-layer adds its update to the MSA by blocks.
    in_place = memory_policy.inplace_pair(gc, is_training)

    def msa_res(msa, module, sub, *args):
      if in_place:
        return module(msa, msa_mask, *args, add_to_input=True)
      return res(msa, module, sub, msa, msa_mask, *args)

    row = MSARowAttentionWithPairBias(c.msa_row_attention_with_pair_bias, gc,
                                      name='msa_row_attention_with_pair_bias')
    msa = sharding_rules.constrain(msa, 'msa_seqs', gc)  # residue split, if any
    msa = msa_res(msa, row, c.msa_row_attention_with_pair_bias, pair)
    msa = sharding_rules.constrain(msa, 'msa_res', gc)

    if self.is_extra_msa:
      column = MSAColumnGlobalAttention(c.msa_column_attention, gc,
                                        name='msa_column_global_attention')
    else:
      column = MSAColumnAttention(c.msa_column_attention, gc, name='msa_column_attention')
    msa = msa_res(msa, column, c.msa_column_attention)

    msa_transition = Transition(c.msa_transition, gc, name='msa_transition')
    msa = msa_res(msa, msa_transition, c.msa_transition)

    if not c.outer_product_mean.first:
      pair = outer_product_mean(pair)

    pair = pair_stack(pair, pair_mask, c, gc, is_training)  # Alg. 6 lines 6-10
    return msa, pair


def evoformer_stack(msa: jnp.ndarray, pair: jnp.ndarray, msa_mask: jnp.ndarray,
                    pair_mask: jnp.ndarray, *, config: EvoformerIterationConfig,
                    global_config: GlobalConfig, num_block: int, is_extra_msa: bool,
                    is_training: bool = False, name: str = None,
                    unroll: bool = False) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """num_block Evoformer (Alg. 6) or extra-MSA (Alg. 18) blocks as one scanned layer stack.

  Call inside the `evoformer` scope; parameters land under `name` (default
  'extra_msa_stack' or 'evoformer_iteration', as AF2) with a leading [num_block] axis.
  Remat per block (and per sub-layer) follows the memory policy (ops/memory_policy.py).
  """
  if name is None:
    name = 'extra_msa_stack' if is_extra_msa else 'evoformer_iteration'
  block = EvoformerIteration(config, global_config, is_extra_msa, name=name)

  def one_block(carry):
    msa_act, pair_act = carry
    return block(msa_act, pair_act, msa_mask, pair_mask, is_training)

  stack = layer_stack(num_block, remat=memory_policy.block_remat(global_config),
                      unroll=unroll)(one_block)
  # The pair's storage dtype between blocks (bf16 under the long-sequence policy's option).
  storage = memory_policy.pair_storage_dtype(global_config, pair.dtype)
  msa, out = stack((msa, pair.astype(storage)))
  return msa, out.astype(pair.dtype)
