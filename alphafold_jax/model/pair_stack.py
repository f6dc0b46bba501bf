"""The pair track of a trunk block: five residual pair sub-layers in a fixed order.

Jumper et al. 2021 Suppl. Alg. 6 lines 6-10 (Evoformer; also the extra-MSA stack, Alg. 18) and
Alg. 16 lines 2-6 (template pair stack); Abramson et al. 2024 Suppl. Alg. 17 lines 2-6
(Pairformer). Each sub-layer is a residual update with shared dropout (model/residual.py):

  triangle_multiplication_outgoing  Alg. 11     triangle_attention_starting_node  Alg. 13
  triangle_multiplication_incoming  Alg. 12     triangle_attention_ending_node    Alg. 14
  pair_transition                   Alg. 15

The Evoformer and Pairformer run the multiplications first (`TRUNK_ORDER`); AF2's template pair
stack runs the attentions first (`TEMPLATE_ORDER`). Parameters sit under the sub-layer's name in
the caller's scope, as in AF2's files.

Shapes: N = residues, c = pair channels. pair [N, N, c], pair_mask [N, N].
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax.numpy as jnp

from alphafold_jax.model import triangle
from alphafold_jax.model.attention import AttentionBlockConfig
from alphafold_jax.model.residual import residual
from alphafold_jax.model.transition import Transition, TransitionConfig
from alphafold_jax.ops import memory_policy, sharding_rules
from alphafold_jax.ops.global_config import GlobalConfig

_field = dataclasses.field


@dataclasses.dataclass(frozen=True)
class PairStackConfig:
  """The five pair sub-layers, AF2 model_1_ptm Evoformer defaults. EvoformerIterationConfig,
  PairformerBlockConfig and TemplatePairStackConfig extend it (the last two with other defaults)."""
  triangle_multiplication_outgoing: triangle.TriangleMultiplicationConfig = _field(
      default_factory=triangle.outgoing_config)
  triangle_multiplication_incoming: triangle.TriangleMultiplicationConfig = _field(
      default_factory=triangle.incoming_config)
  triangle_attention_starting_node: AttentionBlockConfig = _field(
      default_factory=triangle.starting_node_config)
  triangle_attention_ending_node: AttentionBlockConfig = _field(
      default_factory=triangle.ending_node_config)
  pair_transition: TransitionConfig = _field(default_factory=TransitionConfig)


_SUBLAYERS = {
    'triangle_multiplication_outgoing': triangle.TriangleMultiplication,
    'triangle_multiplication_incoming': triangle.TriangleMultiplication,
    'triangle_attention_starting_node': triangle.TriangleAttention,
    'triangle_attention_ending_node': triangle.TriangleAttention,
    'pair_transition': Transition,
}
# Residue-split layout each sub-layer reads (ops/sharding_rules.py): rows for row-wise ones.
_LAYOUT = {'triangle_multiplication_outgoing': 'pair_rows',
           'triangle_multiplication_incoming': 'pair_cols',
           'triangle_attention_starting_node': 'pair_rows',
           'triangle_attention_ending_node': 'pair_cols', 'pair_transition': 'pair_rows'}
TRUNK_ORDER = ('triangle_multiplication_outgoing', 'triangle_multiplication_incoming',
               'triangle_attention_starting_node', 'triangle_attention_ending_node',
               'pair_transition')
TEMPLATE_ORDER = ('triangle_attention_starting_node', 'triangle_attention_ending_node',
                  'triangle_multiplication_outgoing', 'triangle_multiplication_incoming',
                  'pair_transition')


def pair_stack(pair: jnp.ndarray, pair_mask: jnp.ndarray, config: PairStackConfig,
               global_config: GlobalConfig, is_training: bool,
               order: Sequence[str] = TRUNK_ORDER, remat: bool = True) -> jnp.ndarray:
  """pair [N, N, c], pair_mask [N, N] -> pair [N, N, c] after the five sub-layers in `order`.

  config: a PairStackConfig (the pair fields of an Evoformer, Pairformer or template block).
  remat: see `residual.residual`.
  Under the memory policy's in-place pair updates (`memory_policy.inplace_pair`, inference),
  each sub-layer adds its update to the pair block by block in place instead.
  """
  in_place = memory_policy.inplace_pair(global_config, is_training)
  for name in order:
    sub = getattr(config, name)
    pair = sharding_rules.constrain(pair, _LAYOUT[name], global_config)  # residue split, if any
    module = _SUBLAYERS[name](sub, global_config, name=name)
    if in_place and not getattr(sub, 'swiglu', False):  # ops/inplace.py: row blocks, no copy
      pair = module(pair, pair_mask, is_training, add_to_input=True)
      continue
    pair = residual(pair, module, sub, pair, pair_mask, global_config=global_config,
                    is_training=is_training, remat=remat)  # [N, N, c]
  return pair
