"""AlphaFold-Multimer v2.3 embeddings and Evoformer (scope 'evoformer').

Evans et al. 2021 (Methods) on top of Jumper et al. 2021 Suppl. Alg. 2 lines 5-18:
  1. in-model MSA sampling of this recycle (msa_sampling.py: cluster centres, BERT masking,
     cluster profiles, extra rows);
  2. input embedding from the residue one-hot (21 classes, no between-segment bit) and msa_feat;
  3. recycling embedding (Alg. 32, the monomer's `embed_recycling`);
  4. chain-aware relative encoding (relative_encoding.py) in scope `~_relative_encoding`;
  5. multimer template embedding (templates.py), intra-chain only;
  6. extra-MSA stack (Alg. 18) on the first num_extra_msa extra rows;
  7. template chi rows appended to the MSA, Evoformer stack (Alg. 6; outer product mean first),
     single projection.

Shapes: M = merged MSA rows, S = num_msa, X = extra rows, T = templates, N = residues.
Batch (one example, no ensemble axis): aatype [N], residue_index [N], asym_id / entity_id /
sym_id [N], seq_mask [N], msa [M, N], deletion_matrix [M, N], msa_mask [M, N], bert_mask [M, N],
cluster_bias_mask [M], template_aatype [T, N], template_all_atom_positions [T, N, 37, 3],
template_all_atom_mask [T, N, 37]; prev_* recycled tensors.
Output: single [N, c_s], pair [N, N, c_z], msa [S, N, c_m], msa_first_row [N, c_m].
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.model import embedders, triangle
from alphafold_jax.model.embedders import DistogramBins
from alphafold_jax.model.evoformer import EvoformerIterationConfig, evoformer_stack
from alphafold_jax.model.multimer import msa_sampling
from alphafold_jax.model.multimer.relative_encoding import embed_relative_encoding
from alphafold_jax.model.multimer.templates import (MultimerTemplateConfig, TemplateEmbedding,
                                                    template_rows)
from alphafold_jax.model.outer_product_mean import OuterProductMeanConfig
from alphafold_jax.nn import Linear
from alphafold_jax.ops.global_config import GlobalConfig

_field = dataclasses.field


def multimer_evoformer_config() -> EvoformerIterationConfig:
  """AF2-Multimer v3 Evoformer block: outer product mean first, fused triangle projections."""
  return EvoformerIterationConfig(
      outer_product_mean=OuterProductMeanConfig(first=True),
      triangle_multiplication_outgoing=triangle.outgoing_config(fuse_projection_weights=True),
      triangle_multiplication_incoming=triangle.incoming_config(fuse_projection_weights=True))


@dataclasses.dataclass(frozen=True)
class MultimerEmbeddingsConfig:
  """AF2-Multimer v2.3 `model.embeddings_and_evoformer` (model_1_multimer_v3 values)."""
  msa_channel: int = 256
  pair_channel: int = 128
  seq_channel: int = 384
  extra_msa_channel: int = 64
  num_msa: int = 508
  num_extra_msa: int = 2048
  max_relative_idx: int = 32
  max_relative_chain: int = 2
  use_chain_relative: bool = True
  use_cluster_profile: bool = True
  masked_msa: msa_sampling.MaskedMsaConfig = msa_sampling.MaskedMsaConfig()
  prev_pos: DistogramBins = DistogramBins(min_bin=3.25, max_bin=20.75, num_bins=15)
  recycle_pos: bool = True
  recycle_features: bool = True
  evoformer_num_block: int = 48
  extra_msa_stack_num_block: int = 4
  evoformer: EvoformerIterationConfig = _field(default_factory=multimer_evoformer_config)
  template: MultimerTemplateConfig = _field(default_factory=MultimerTemplateConfig)

  def recycling_config(self) -> embedders.RecyclingEmbedderConfig:
    return embedders.RecyclingEmbedderConfig(self.msa_channel, self.pair_channel, self.prev_pos,
                                             self.recycle_pos, self.recycle_features)


def sampling_keys(cycle_key: jnp.ndarray):
  """(sample_key, mask_key) of one recycle, the key schedule of AF2-Multimer (its ensemble
  loop splits the cycle key and passes the second half, which the embedder splits in 3)."""
  embed_key = jax.random.split(cycle_key)[1]
  _, sample_key, mask_key = jax.random.split(embed_key, 3)
  return sample_key, mask_key


class EmbeddingsAndEvoformer(hk.Module):
  """Call: (batch, prev, cycle_key, is_training) -> representations (see module docstring)."""

  def __init__(self, config: MultimerEmbeddingsConfig, global_config: GlobalConfig,
               name: str = 'evoformer'):
    super().__init__(name=name)
    self.c, self.gc = config, global_config

  def _relative_encoding(self, batch, dtype):
    # a method, so that Haiku names its scope '~_relative_encoding' as in the official files
    c = self.c
    return embed_relative_encoding(batch, c.pair_channel, c.max_relative_idx,
                                   c.max_relative_chain, c.use_chain_relative, dtype)

  def __call__(self, batch: Mapping[str, jnp.ndarray], prev: Mapping[str, jnp.ndarray],
               cycle_key: jnp.ndarray, is_training: bool = False) -> dict:
    c, gc = self.c, self.gc
    dtype = jnp.bfloat16 if gc.bfloat16 else jnp.float32
    sample_key, mask_key = sampling_keys(cycle_key)
    batch = msa_sampling.sample_recycle_msa(batch, sample_key, mask_key, c.num_msa,
                                            c.masked_msa, c.use_cluster_profile)
    seq_mask = batch['seq_mask']
    pair_mask = (seq_mask[:, None] * seq_mask[None, :]).astype(dtype)  # [N, N]

    target_feat = jax.nn.one_hot(batch['aatype'], 21, dtype=dtype)  # [N, 21]
    msa = (Linear(c.msa_channel, name='preprocess_1d')(target_feat)[None]
           + Linear(c.msa_channel, name='preprocess_msa')(
               msa_sampling.msa_features(batch).astype(dtype)))  # [S, N, c_m]
    pair = (Linear(c.pair_channel, name='left_single')(target_feat)[:, None]
            + Linear(c.pair_channel, name='right_single')(target_feat)[None])  # [N, N, c_z]
    row_update, pair_update = embedders.embed_recycling(prev, batch['aatype'],
                                                        c.recycling_config(), dtype=dtype)
    if row_update is not None:
      msa = msa.at[0].add(row_update)
    pair = pair + pair_update
    if c.max_relative_idx:
      pair = pair + self._relative_encoding(batch, dtype)

    if c.template.enabled:
      multichain = batch['asym_id'][:, None] == batch['asym_id'][None, :]  # [N, N]
      pair = pair + TemplateEmbedding(c.template, gc)(pair, batch, pair_mask, multichain,
                                                      is_training)

    extra, extra_mask = msa_sampling.extra_msa_features(batch, c.num_extra_msa)  # [X, N, 25]
    extra = Linear(c.extra_msa_channel, name='extra_msa_activations')(extra.astype(dtype))
    _, pair = evoformer_stack(extra, pair, extra_mask.astype(dtype), pair_mask,
                              config=c.evoformer, global_config=gc,
                              num_block=c.extra_msa_stack_num_block, is_extra_msa=True,
                              is_training=is_training)

    num_msa_rows = msa.shape[0]
    msa_mask = batch['msa_mask'].astype(dtype)
    if c.template.enabled:
      rows, row_mask = template_rows(batch, c.msa_channel, dtype)  # [T, N, c_m], [T, N]
      msa = jnp.concatenate([msa, rows], axis=0)
      msa_mask = jnp.concatenate([msa_mask, row_mask], axis=0)
    msa, pair = evoformer_stack(msa, pair, msa_mask, pair_mask, config=c.evoformer,
                                global_config=gc, num_block=c.evoformer_num_block,
                                is_extra_msa=False, is_training=is_training)
    single = Linear(c.seq_channel, name='single_activations')(msa[0])  # [N, c_s]
    return {'single': single, 'pair': pair, 'msa': msa[:num_msa_rows], 'msa_first_row': msa[0],
            'true_msa': batch['true_msa'], 'bert_mask': batch['bert_mask']}
