"""Embeddings and the two Evoformer stacks: AF2's `EmbeddingsAndEvoformer` (scope 'evoformer').

Jumper et al. 2021, Suppl. Alg. 2 lines 5-18: input embedding (Alg. 3-5), recycling embedding
(Alg. 32), template pair embedding (Alg. 16-17) and template rows (lines 7-8), extra-MSA stack
(Alg. 18-19), Evoformer stack (Alg. 6) and the single projection (line 17).

Shapes: S = MSA cluster rows, T = templates, X = extra MSA rows, N = residues,
c_m / c_z / c_s / c_e = msa / pair / single / extra-MSA channels.
Output: {'single' [N, c_s], 'pair' [N, N, c_z], 'msa' [S, N, c_m], 'msa_first_row' [N, c_m]}.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import haiku as hk
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.model import embedders
from alphafold_jax.model.embedders import DistogramBins
from alphafold_jax.model.evoformer import EvoformerIterationConfig, evoformer_stack
from alphafold_jax.model.templates import (TemplateEmbedding, TemplateEmbeddingConfig,
                                           embed_template_single)
from alphafold_jax.nn import Linear

_field = dataclasses.field


@dataclasses.dataclass(frozen=True)
class EmbeddingsAndEvoformerConfig:
  """AF2 `model.embeddings_and_evoformer` (model_1_ptm values; templates on)."""
  msa_channel: int = 256
  pair_channel: int = 128
  seq_channel: int = 384
  extra_msa_channel: int = 64
  max_relative_feature: int = 32
  prev_pos: DistogramBins = DistogramBins(min_bin=3.25, max_bin=20.75, num_bins=15)
  recycle_pos: bool = True
  recycle_features: bool = True
  evoformer_num_block: int = 48
  extra_msa_stack_num_block: int = 4
  evoformer: EvoformerIterationConfig = _field(default_factory=EvoformerIterationConfig)
  template: TemplateEmbeddingConfig = _field(default_factory=TemplateEmbeddingConfig)

  def input_config(self) -> embedders.InputEmbedderConfig:
    return embedders.InputEmbedderConfig(self.msa_channel, self.pair_channel,
                                         self.max_relative_feature)

  def recycling_config(self) -> embedders.RecyclingEmbedderConfig:
    return embedders.RecyclingEmbedderConfig(self.msa_channel, self.pair_channel, self.prev_pos,
                                             self.recycle_pos, self.recycle_features)


class EmbeddingsAndEvoformer(hk.Module):
  """Suppl. Alg. 2 lines 5-18. Call: (batch of one ensemble member, prev, is_training)."""

  def __init__(self, config: EmbeddingsAndEvoformerConfig, global_config: GlobalConfig,
               name: str = 'evoformer'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config

  def __call__(self, batch: Mapping[str, jnp.ndarray], prev: Mapping[str, jnp.ndarray],
               is_training: bool) -> dict:
    c, gc = self.c, self.gc
    # Compute dtype of the trunk (AF2's `bfloat16`); fp32 parameters either way.
    dtype = jnp.bfloat16 if gc.bfloat16 else jnp.float32
    seq_mask = batch['seq_mask'].astype(dtype)  # [N]
    pair_mask = seq_mask[:, None] * seq_mask[None, :]  # [N, N]

    # Alg. 3-5 and Alg. 32.
    msa, pair = embedders.embed_inputs(batch, c.input_config(),
                                       dtype=dtype)  # [S, N, c_m], [N, N, c_z]
    msa_row_update, pair_update = embedders.embed_recycling(
        prev, batch['aatype'], c.recycling_config(), dtype=dtype)
    if msa_row_update is not None:
      msa = msa.at[0].add(msa_row_update)
    pair = pair + pair_update

    # Alg. 2 lines 9-13: template pair embeddings.
    template_batch = {k: v for k, v in batch.items() if k.startswith('template_')}
    if c.template.enabled:
      pair = pair + TemplateEmbedding(c.template, gc)(pair, template_batch, pair_mask,
                                                      is_training)

    # Alg. 2 lines 14-16: extra-MSA stack (Alg. 18) updates the pair only.
    extra = embedders.embed_extra_msa(
        batch, embedders.ExtraMsaEmbedderConfig(c.extra_msa_channel), dtype=dtype)  # [X, N, c_e]
    _, pair = evoformer_stack(
        extra, pair, batch['extra_msa_mask'], pair_mask, config=c.evoformer, global_config=gc,
        num_block=c.extra_msa_stack_num_block, is_extra_msa=True, is_training=is_training)

    # Alg. 2 lines 7-8: template torsion rows appended to the MSA.
    msa_mask = batch['msa_mask'].astype(dtype)  # [S, N]
    num_msa_rows = msa.shape[0]
    if c.template.enabled and c.template.embed_torsion_angles:
      rows, row_mask = embed_template_single(template_batch, c.msa_channel, gc, dtype=dtype)
      msa = jnp.concatenate([msa, rows], axis=0)  # [S + T, N, c_m]
      msa_mask = jnp.concatenate([msa_mask, row_mask.astype(dtype)], axis=0)

    # Alg. 6: the main Evoformer stack.
    msa, pair = evoformer_stack(
        msa, pair, msa_mask, pair_mask, config=c.evoformer, global_config=gc,
        num_block=c.evoformer_num_block, is_extra_msa=False, is_training=is_training)

    single = Linear(c.seq_channel, name='single_activations')(msa[0])  # [N, c_s]
    return {'single': single, 'pair': pair, 'msa': msa[:num_msa_rows],
            'msa_first_row': msa[0]}
