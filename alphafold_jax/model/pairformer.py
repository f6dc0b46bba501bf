"""Pairformer block (AF3-style trunk without an MSA) for the diffusion model.

Abramson et al. 2024 (AlphaFold 3), Suppl. Alg. 17 "PairformerStack", built from the AF2
pieces: triangle updates (Jumper et al. 2021 Suppl. Alg. 11-14), pair transition (Alg. 15),
and single-track self-attention with pair bias (Alg. 7 applied to the single representation as
a one-row MSA, AF3 Alg. 24 without conditioning).

  z += TriMulOut(z); z += TriMulIn(z); z += TriAttStart(z); z += TriAttEnd(z); z += Transition(z)
  s += AttentionWithPairBias(s, z); s += Transition(s)

Shapes: N = residues. single [N, c_s], pair [N, N, c_z], seq_mask [N].
Parameters sit under `pairformer_block/...` with a leading [num_block] axis in a stack.
DISCREPANCY (vs AF3): the single attention is AF2's gated attention with pair bias (AF3 Alg. 24
adds a bias to the query projection); heads (16 x 24 channels at c_s 384), SwiGLU transitions
and dropout rates follow AF3.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import haiku as hk
import jax.numpy as jnp

from alphafold_jax.model.attention import AttentionBlockConfig
from alphafold_jax.model.msa import MSARowAttentionWithPairBias, row_attention_config
from alphafold_jax.model.pair_stack import PairStackConfig, pair_stack
from alphafold_jax.model.residual import residual
from alphafold_jax.model.transition import Transition, TransitionConfig
from alphafold_jax.ops import memory_policy
from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.ops.layer_stack import layer_stack

_field = dataclasses.field


@dataclasses.dataclass(frozen=True)
class PairformerBlockConfig(PairStackConfig):
  """AF3 Pairformer defaults (c_s 384, c_z 128): 4-head triangle attention, 16-head single
  attention, SwiGLU transitions of factor 4, dropout 0.25 on the triangle updates."""
  pair_transition: TransitionConfig = _field(default_factory=lambda: TransitionConfig(swiglu=True))
  single_attention: AttentionBlockConfig = _field(
      default_factory=lambda: row_attention_config(num_head=16, dropout_rate=0.0))
  single_transition: TransitionConfig = _field(
      default_factory=lambda: TransitionConfig(swiglu=True))


class PairformerBlock(hk.Module):
  """One Pairformer block (AF3 Suppl. Alg. 17 lines 2-8): pair track, then single track."""

  def __init__(self, config: PairformerBlockConfig, global_config: GlobalConfig,
               name: str = 'pairformer_block'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, single: jnp.ndarray, pair: jnp.ndarray, seq_mask: jnp.ndarray,
               is_training: bool = False) -> Tuple[jnp.ndarray, jnp.ndarray]:
    """single [N, c_s], pair [N, N, c_z], seq_mask [N] -> (single, pair)."""
    c, gc = self.config, self.global_config
    seq_mask = seq_mask.astype(pair.dtype)
    pair_mask = seq_mask[:, None] * seq_mask[None, :]  # [N, N]

    def res(act, module, sub, *args):  # act + Dropout(module(*args)), model/residual.py
      return residual(act, module, sub, *args, global_config=gc, is_training=is_training)

    pair = pair_stack(pair, pair_mask, c, gc, is_training)  # AF3 Alg. 17 lines 2-6

    single_rows = single[None]  # [1, N, c_s]: the single track as a one-row MSA
    row_mask = seq_mask[None]  # [1, N]
    attention = MSARowAttentionWithPairBias(c.single_attention, gc,
                                            name='single_attention_with_pair_bias')
    single_rows = res(single_rows, attention, c.single_attention, single_rows, row_mask, pair)
    transition = Transition(c.single_transition, gc, name='single_transition')
    single_rows = res(single_rows, transition, c.single_transition, single_rows, row_mask)
    return single_rows[0], pair


def pairformer_stack(single: jnp.ndarray, pair: jnp.ndarray, seq_mask: jnp.ndarray, *,
                     config: PairformerBlockConfig, global_config: GlobalConfig, num_block: int,
                     is_training: bool = False, name: str = 'pairformer_block'
                     ) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """num_block Pairformer blocks as one scanned layer stack (remat as ops/memory_policy.py says)."""
  block = PairformerBlock(config, global_config, name=name)

  def one_block(carry):
    return block(carry[0], carry[1], seq_mask, is_training)

  stack = layer_stack(num_block, remat=memory_policy.block_remat(global_config))
  return stack(one_block)((single, pair))
