"""Template embedding of AlphaFold-Multimer v2.3 (Evans et al. 2021, Methods; AF2-Multimer
`TemplateEmbedding` / `SingleTemplateEmbedding` / `template_embedding_1d`).

Differences from the monomer (Jumper et al. 2021, Suppl. Alg. 2 lines 7-13, Alg. 16-17):
  * each template feature group has its own linear map (`template_pair_embedding_0..8`), and the
    layer-normed QUERY pair is one of the inputs (so the template stack sees relative positions);
  * distance features only within a chain (templates are per chain): the pseudo-beta and
    backbone pair masks are multiplied by the intra-chain mask;
  * the unit vectors CA_i -> CA_j in the backbone frame of i are used;
  * the pair stack runs triangle multiplications BEFORE triangle attentions;
  * templates are averaged (no point-wise attention), then relu + `output_linear`.
  * the template rows of the MSA carry 4 chi angles (sin, cos, mask) only: 22 + 3*4 = 34.

Shapes: T = templates, N = residues, c_z = query pair channels, c_t = template channels,
c_m = MSA channels. Batch: template_aatype [T, N] (our residue order, 21 = gap),
template_all_atom_positions [T, N, 37, 3], template_all_atom_mask [T, N, 37].
Scopes under 'evoformer': template_embedding/{single_template_embedding/..., output_linear},
template_single_embedding, template_projection.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Tuple

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.geometry.torsions import atom37_to_torsion_angles
from alphafold_jax.model.embedders import DistogramBins, dgram_from_positions, pseudo_beta_fn
from alphafold_jax.model.template_features import backbone_frames
from alphafold_jax.model.templates import TemplatePairStackConfig
from alphafold_jax.model.transition import Transition
from alphafold_jax.model.triangle import TriangleAttention, TriangleMultiplication
from alphafold_jax.nn import LayerNorm, Linear
from alphafold_jax.nn.dropout import dropout_residual
from alphafold_jax.ops import memory_policy
from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.ops.layer_stack import layer_stack


def fused_template_stack_config() -> TemplatePairStackConfig:
  """The template pair stack of v3 files: fused triangle-multiplication projections."""
  stack = TemplatePairStackConfig()
  fused = {k: dataclasses.replace(getattr(stack, k), fuse_projection_weights=True)
           for k in ('triangle_multiplication_outgoing', 'triangle_multiplication_incoming')}
  return dataclasses.replace(stack, **fused)


@dataclasses.dataclass(frozen=True)
class MultimerTemplateConfig:
  """AF2-Multimer v2.3 `embeddings_and_evoformer.template` (fused triangle multiplications)."""
  enabled: bool = True
  num_channels: int = 64
  dgram_features: DistogramBins = DistogramBins(min_bin=3.25, max_bin=50.75, num_bins=39)
  template_pair_stack: TemplatePairStackConfig = dataclasses.field(
      default_factory=fused_template_stack_config)


class TemplateEmbeddingIteration(hk.Module):
  """One template pair block, multimer order: triangle multiplication outgoing, incoming,
  triangle attention starting, ending node, pair transition (each a residual with dropout)."""

  def __init__(self, config: TemplatePairStackConfig, global_config: GlobalConfig,
               name: str = 'template_embedding_iteration'):
    super().__init__(name=name)
    self.config, self.gc = config, global_config

  def __call__(self, act: jnp.ndarray, mask: jnp.ndarray, is_training: bool) -> jnp.ndarray:
    c, gc = self.config, self.gc
    steps = ((TriangleMultiplication, c.triangle_multiplication_outgoing,
              'triangle_multiplication_outgoing'),
             (TriangleMultiplication, c.triangle_multiplication_incoming,
              'triangle_multiplication_incoming'),
             (TriangleAttention, c.triangle_attention_starting_node,
              'triangle_attention_starting_node'),
             (TriangleAttention, c.triangle_attention_ending_node, 'triangle_attention_ending_node'),
             (Transition, c.pair_transition, 'pair_transition'))
    for module_cls, cfg, name in steps:
      update = module_cls(cfg, gc, name=name)(act, mask, is_training)  # [N, N, c_t]
      act = dropout_residual(act, update, rate=cfg.dropout_rate, orientation=cfg.orientation,
                             shared_dropout=cfg.shared_dropout, global_config=gc,
                             is_training=is_training)
    return act


def template_pair_inputs(query: jnp.ndarray, aatype: jnp.ndarray, positions: jnp.ndarray,
                         atom_mask: jnp.ndarray, multichain_mask: jnp.ndarray,
                         bins: DistogramBins, dtype) -> list:
  """The 9 (feature, num_input_dims) groups of one template; query [N, N, c_z] layer-normed."""
  pb, pb_mask = pseudo_beta_fn(aatype, positions, atom_mask)  # [N, 3], [N]
  pb_mask_2d = pb_mask[:, None] * pb_mask[None, :] * multichain_mask  # [N, N]
  dgram = dgram_from_positions(pb, bins) * pb_mask_2d[..., None]  # [N, N, B]
  one_hot = jax.nn.one_hot(aatype, 22, dtype=dtype)  # [N, 22]
  frames, bb_mask = backbone_frames(positions.astype(jnp.float32), atom_mask)  # [N], [N]
  # CA_j in the frame of residue i: [N(i), N(j), 3]
  local = jnp.einsum('iba,ijb->ija', frames.rot,
                     frames.trans[None, :, :] - frames.trans[:, None, :])
  norm = jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(local), -1, keepdims=True), 1e-12))
  bb_mask_2d = bb_mask[:, None] * bb_mask[None, :] * multichain_mask  # [N, N]
  unit = (local / norm).astype(dtype) * bb_mask_2d[..., None].astype(dtype)  # [N, N, 3]
  n = aatype.shape[0]
  return [(dgram.astype(dtype), 1), (pb_mask_2d.astype(dtype), 0),
          (jnp.broadcast_to(one_hot[None, :, :], (n, n, 22)), 1),  # residue j
          (jnp.broadcast_to(one_hot[:, None, :], (n, n, 22)), 1),  # residue i
          (unit[..., 0], 0), (unit[..., 1], 0), (unit[..., 2], 0),
          (bb_mask_2d.astype(dtype), 0), (query, 1)]


class SingleTemplateEmbedding(hk.Module):
  """One template -> [N, N, c_t]: 9 linear maps summed, the pair stack, a final LayerNorm."""

  def __init__(self, config: MultimerTemplateConfig, global_config: GlobalConfig,
               name: str = 'single_template_embedding'):
    super().__init__(name=name)
    self.config, self.gc = config, global_config

  def __call__(self, query, aatype, positions, atom_mask, pair_mask, multichain_mask,
               is_training: bool) -> jnp.ndarray:
    c, gc = self.config, self.gc
    dtype = query.dtype
    query = LayerNorm(name='query_embedding_norm')(query)  # [N, N, c_z]
    inputs = template_pair_inputs(query, aatype, positions, atom_mask,
                                  multichain_mask.astype(jnp.float32), c.dgram_features, dtype)
    act = 0.0
    for i, (x, num_input_dims) in enumerate(inputs):
      act += Linear(c.num_channels, initializer='relu', num_input_dims=num_input_dims,
                    name=f'template_pair_embedding_{i}')(x)  # [N, N, c_t]
    block = TemplateEmbeddingIteration(c.template_pair_stack, gc)
    stack = layer_stack(c.template_pair_stack.num_block,
                        remat=memory_policy.block_remat(gc))(
                            lambda a: block(a, pair_mask, is_training))
    act = stack(act)
    return LayerNorm(name='output_layer_norm')(act)


class TemplateEmbedding(hk.Module):
  """All templates -> pair update [N, N, c_z] (mean over templates, relu, `output_linear`).

  DISCREPANCY: AF2-Multimer divides by the number of template SLOTS, empty (zero-padded) slots
  included, and embeds empty slots too (their features are zeros but the query term is not).
  """

  def __init__(self, config: MultimerTemplateConfig, global_config: GlobalConfig,
               name: str = 'template_embedding'):
    super().__init__(name=name)
    self.config, self.gc = config, global_config

  def __call__(self, query: jnp.ndarray, template_batch: Mapping[str, jnp.ndarray],
               pair_mask: jnp.ndarray, multichain_mask: jnp.ndarray,
               is_training: bool = False) -> jnp.ndarray:
    c = self.config
    num_res, _, c_z = query.shape
    embedder = SingleTemplateEmbedding(c, self.gc)
    slots = (template_batch['template_aatype'], template_batch['template_all_atom_positions'],
             template_batch['template_all_atom_mask'])
    num_templates = slots[0].shape[0]

    def add_one(total, slot):
      return total + embedder(query, *slot, pair_mask, multichain_mask, is_training), None

    total, _ = hk.scan(add_one, jnp.zeros((num_res, num_res, c.num_channels), query.dtype),
                       slots)  # [N, N, c_t]
    act = jax.nn.relu(total / num_templates)
    return Linear(c_z, initializer='relu', name='output_linear')(act)


def template_rows(template_batch: Mapping[str, jnp.ndarray], msa_channel: int,
                  dtype=jnp.float32) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Template rows appended to the MSA: [T, N, c_m] and their mask [T, N] (chi1 present).

  Features: aatype one-hot (22), sin chi (4), cos chi (4), chi mask (4), masked chis zeroed.
  """
  aatype = template_batch['template_aatype']
  torsions = atom37_to_torsion_angles(aatype, template_batch['template_all_atom_positions'],
                                      template_batch['template_all_atom_mask'])
  chi = torsions['torsion_angles_sin_cos'][..., 3:, :]  # [T, N, 4, 2]
  chi_mask = torsions['torsion_angles_mask'][..., 3:]  # [T, N, 4]
  feats = jnp.concatenate([jax.nn.one_hot(aatype, 22), chi[..., 0] * chi_mask,
                           chi[..., 1] * chi_mask, chi_mask], axis=-1).astype(dtype)  # [T, N, 34]
  act = Linear(msa_channel, initializer='relu', name='template_single_embedding')(feats)
  act = Linear(msa_channel, initializer='relu', name='template_projection')(jax.nn.relu(act))
  return act, chi_mask[..., 0].astype(dtype)

