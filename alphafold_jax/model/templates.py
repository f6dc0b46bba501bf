"""Template embedding: template pair stack, point-wise attention, template single rows.

Jumper et al. 2021, Suppl. Alg. 2 ("Inference") lines 7-13, Alg. 16 ("TemplatePairStack"),
Alg. 17 ("TemplatePointwiseAttention"); features in `model/template_features.py`.

Scopes (AF2 v2.3 monomer parameter tree, under 'alphafold/alphafold_iteration/evoformer'):
  template_embedding/single_template_embedding/embedding2d
  template_embedding/single_template_embedding/template_pair_stack/__layer_stack_no_state/...
  template_embedding/single_template_embedding/output_layer_norm
  template_embedding/attention                        (point-wise attention)
  template_single_embedding, template_projection      (`embed_template_single`, evoformer scope)
`TemplateEmbedding` is an hk.Module named 'template_embedding': construct it inside the
'evoformer' module. `embed_template_single` is a plain function: call it in that scope too.

Wiring inside 'evoformer' (AF2 order):
  msa, pair = embed_inputs(...); recycling updates; (pair gets relpos)
  pair += TemplateEmbedding(cfg, gc)(pair, template_batch, mask_2d, is_training)
  extra-MSA embedding + extra-MSA stack on (extra, pair)
  rows, row_mask = embed_template_single(template_batch, c_m, gc)
  msa = concat([msa, rows]); msa_mask = concat([msa_mask, row_mask])   (if embed_torsion_angles)
  ... Evoformer; the heads drop the template rows again (msa[:N_seq]).

Shapes: T = templates, N = residues, c_z = query pair channels (128), c_t = template pair
channels (64), c_m = MSA channels (256).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Tuple

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.model import template_features
from alphafold_jax.model.attention import (Attention, AttentionBlockConfig, AttentionConfig,
                                           mask_to_bias)
from alphafold_jax.model.embedders import DistogramBins
from alphafold_jax.model.pair_stack import TEMPLATE_ORDER, PairStackConfig, pair_stack
from alphafold_jax.model.transition import TransitionConfig
from alphafold_jax.model.triangle import (TriangleMultiplicationConfig, ending_node_config,
                                          incoming_config, outgoing_config, starting_node_config)
from alphafold_jax.nn import LayerNorm, Linear
from alphafold_jax.ops import memory_policy
from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.ops.layer_stack import TEMPLATE_STACK_SCOPE, layer_stack

TEMPLATE_FEATURE_KEYS = ('template_aatype', 'template_all_atom_positions',
                         'template_all_atom_masks', 'template_pseudo_beta',
                         'template_pseudo_beta_mask', 'template_mask')


@dataclasses.dataclass(frozen=True)
class TemplatePairStackConfig(PairStackConfig):
  """Suppl. Alg. 16 with model_1_ptm values (2 blocks, 4 heads x 16, c_t = 64)."""
  num_block: int = 2
  triangle_attention_starting_node: AttentionBlockConfig = starting_node_config(
      num_head=4, key_dim=64, value_dim=64)
  triangle_attention_ending_node: AttentionBlockConfig = ending_node_config(
      num_head=4, key_dim=64, value_dim=64)
  triangle_multiplication_outgoing: TriangleMultiplicationConfig = outgoing_config(
      num_intermediate_channel=64)
  triangle_multiplication_incoming: TriangleMultiplicationConfig = incoming_config(
      num_intermediate_channel=64)
  pair_transition: TransitionConfig = TransitionConfig(num_intermediate_factor=2)


@dataclasses.dataclass(frozen=True)
class TemplateEmbeddingConfig:
  """Template embedding, model_1_ptm values.

  template_channel: c_t (AF2 reads it from the ending-node attention's value_dim).
  attention: point-wise attention (Alg. 17): 4 heads, key/value 64 in total, no gate.
  subbatch_size: chunk of the N*N query rows of the point-wise attention at inference; it
    applies only in fixed-rows mode (`GlobalConfig.subbatch_size` set; ops/memory_policy.py).
  The number of templates is the input pipeline's `max_templates` (FeatureConfig, its home).
  """
  enabled: bool = True
  embed_torsion_angles: bool = True
  use_template_unit_vector: bool = False
  template_channel: int = 64
  subbatch_size: int = 128
  dgram_features: DistogramBins = DistogramBins(min_bin=3.25, max_bin=50.75, num_bins=39)
  template_pair_stack: TemplatePairStackConfig = TemplatePairStackConfig()
  attention: AttentionConfig = AttentionConfig(num_head=4, key_dim=64, value_dim=64,
                                               gating=False)


class TemplatePairStack(hk.Module):
  """Suppl. Alg. 16: `num_block` x (triangle attention start/end, triangle multiplication
  outgoing/incoming, pair transition), each a residual with shared dropout.

  Blocks are stacked with `ops.layer_stack` (params get a leading [num_block] axis, AF2
  layout `template_pair_stack/__layer_stack_no_state/<sub-module>/...`).
  """

  def __init__(self, config: TemplatePairStackConfig, global_config: GlobalConfig,
               name: str = 'template_pair_stack'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, pair: jnp.ndarray, mask: jnp.ndarray, is_training: bool = False) -> jnp.ndarray:
    """pair [N, N, c_t], mask [N, N] -> [N, N, c_t]."""
    c, gc = self.config, self.global_config
    if not c.num_block:
      return pair

    def block(act):  # [N, N, c_t]; only whole blocks are rematerialised here (block_remat)
      return pair_stack(act, mask, c, gc, is_training, order=TEMPLATE_ORDER, remat=False)

    return layer_stack(c.num_block, remat=memory_policy.block_remat(gc),
                       name=TEMPLATE_STACK_SCOPE)(block)(pair)


class SingleTemplateEmbedding(hk.Module):
  """Embeds ONE template into a [N, N, c_t] pair (Suppl. Alg. 2 lines 9 + 11).

  template pair features -> Linear 'embedding2d' -> TemplatePairStack -> 'output_layer_norm'.
  """

  def __init__(self, config: TemplateEmbeddingConfig, global_config: GlobalConfig,
               name: str = 'single_template_embedding'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, template: Mapping[str, jnp.ndarray], mask_2d: jnp.ndarray,
               is_training: bool = False, dtype=jnp.float32) -> jnp.ndarray:
    """template: one template's features (no T axis); mask_2d [N, N] residue padding mask
    (it does not know whether the template exists). Returns [N, N, c_t]."""
    c = self.config
    act = template_features.template_pair_features(
        template, c.dgram_features, c.use_template_unit_vector, dtype)  # [N, N, 88]
    act = Linear(c.template_channel, initializer='relu', name='embedding2d')(act)  # [N, N, c_t]
    act = TemplatePairStack(c.template_pair_stack, self.global_config)(
        act, mask_2d.astype(act.dtype), is_training)
    return LayerNorm(name='output_layer_norm')(act)


class TemplateEmbedding(hk.Module):
  """All templates -> pair update for the query pair (Suppl. Alg. 2 lines 9-13, Alg. 17).

  Each template is embedded by one shared `SingleTemplateEmbedding` (templates run one
  after another with `hk.map`, like AF2's shard size 1); the query pair then attends
  point-wise over the templates (per residue pair (i, j), keys/values = the T template
  embeddings at (i, j), masked by `template_mask`).
  """

  def __init__(self, config: TemplateEmbeddingConfig, global_config: GlobalConfig,
               name: str = 'template_embedding'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, query_embedding: jnp.ndarray, template_batch: Mapping[str, jnp.ndarray],
               mask_2d: jnp.ndarray, is_training: bool = False) -> jnp.ndarray:
    """query_embedding [N, N, c_z]; template_batch: template_* features with a leading T axis
    (template_mask [T] marks real templates); mask_2d [N, N]. Returns [N, N, c_z]."""
    c, gc = self.config, self.global_config
    missing = [k for k in TEMPLATE_FEATURE_KEYS if k not in template_batch]
    if missing:
      raise ValueError(f'TemplateEmbedding: missing template feature(s) {missing}')
    num_res, _, c_z = query_embedding.shape
    dtype = query_embedding.dtype
    template_mask = template_batch['template_mask'].astype(dtype)  # [T]
    num_templ = template_mask.shape[0]
    per_template = {k: template_batch[k] for k in TEMPLATE_FEATURE_KEYS if k != 'template_mask'}

    embedder = SingleTemplateEmbedding(c, gc)  # params shared by all templates
    templ_act = hk.map(lambda t: embedder(t, mask_2d, is_training, dtype),
                       per_template)  # [T, N, N, c_t]

    # Alg. 17: queries are the N*N pair entries, keys/values their T template embeddings.
    flat_query = query_embedding.reshape(num_res * num_res, 1, c_z)  # [N*N, 1, c_z]
    flat_templ = jnp.transpose(templ_act, (1, 2, 0, 3)).reshape(
        num_res * num_res, num_templ, c.template_channel)  # [N*N, T, c_t]
    bias = mask_to_bias(template_mask, dtype)[None, None, None, :]  # [1, 1, 1, T]
    out = Attention(c.attention, gc, c_z, name='attention')(
        flat_query, flat_templ, bias,
        chunk_size=memory_policy.chunk_policy(gc, is_training, rows=c.subbatch_size)
    )  # [N*N, 1, c_z]
    out = out.reshape(num_res, num_res, c_z)
    # No templates at all -> no update (and no gradient into the template branch).
    return out * (jnp.sum(template_mask) > 0).astype(dtype)


def embed_template_single(template_batch: Mapping[str, jnp.ndarray], msa_channel: int,
                          global_config: GlobalConfig,
                          dtype=jnp.float32) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Template rows appended to the MSA (Suppl. Alg. 2 lines 7-8).

  template_batch: template_aatype [T, N], template_all_atom_positions [T, N, 37, 3],
    template_all_atom_masks [T, N, 37].
  Returns rows [T, N, c_m] and their MSA mask [T, N] (psi-angle mask).
  Params (current scope, i.e. 'evoformer'): template_single_embedding, template_projection.
  Masked torsions get the (1, 0) placeholder only when `not global_config.zero_init`, as AF2.
  """
  feats, row_mask = template_features.template_single_features(
      template_batch, placeholder_for_undefined=not global_config.zero_init,
      dtype=dtype)  # [T, N, 57], [T, N]
  act = Linear(msa_channel, initializer='relu', name='template_single_embedding')(feats)
  act = jax.nn.relu(act)  # [T, N, c_m]
  act = Linear(msa_channel, initializer='relu', name='template_projection')(act)
  return act, row_mask
