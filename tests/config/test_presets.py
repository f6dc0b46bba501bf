"""Presets equal AF2 v2.3's monomer configs; overrides by field name; unknown fields fail."""

import dataclasses

import pytest

from alphafold_jax.config import model_config
from alphafold_jax.config.overrides import UnknownFieldError

from tests.oracle import oracle_import, requires_oracle  # noqa: E402
oracle_config = oracle_import('alphafold.model.config')

pytestmark = requires_oracle

NAMES = [f'model_{i}{s}' for i in range(1, 6) for s in ('', '_ptm')]


def _pairs(ours, theirs):
  """(our value, AF2 value, label) for the fields that define an AF2 monomer model."""
  e, te = ours.evoformer, theirs.model.embeddings_and_evoformer
  d, td = ours.data, theirs.data
  out = [
      (e.msa_channel, te.msa_channel, 'msa_channel'),
      (e.pair_channel, te.pair_channel, 'pair_channel'),
      (e.seq_channel, te.seq_channel, 'seq_channel'),
      (e.extra_msa_channel, te.extra_msa_channel, 'extra_msa_channel'),
      (e.evoformer_num_block, te.evoformer_num_block, 'evoformer_num_block'),
      (e.extra_msa_stack_num_block, te.extra_msa_stack_num_block, 'extra_msa_stack_num_block'),
      (e.max_relative_feature, te.max_relative_feature, 'max_relative_feature'),
      (e.template.enabled, te.template.enabled, 'template.enabled'),
      (e.template.embed_torsion_angles, te.template.embed_torsion_angles, 'embed_torsion_angles'),
      (e.template.template_pair_stack.num_block, te.template.template_pair_stack.num_block,
       'template_pair_stack.num_block'),
      (e.prev_pos.num_bins, te.prev_pos.num_bins, 'prev_pos.num_bins'),
      (d.max_extra_msa, td.common.max_extra_msa, 'max_extra_msa'),
      (d.max_msa_clusters, td.eval.max_msa_clusters, 'max_msa_clusters'),
      (d.max_templates, td.eval.max_templates, 'max_templates'),
      (d.use_templates, td.common.use_templates, 'use_templates'),
      (d.reduce_msa_clusters_by_max_templates, td.common.reduce_msa_clusters_by_max_templates,
       'reduce_msa_clusters_by_max_templates'),
      (d.masked_msa_replace_fraction, td.eval.masked_msa_replace_fraction, 'replace_fraction'),
      (ours.num_recycle, theirs.model.num_recycle, 'num_recycle'),
      (ours.has_pae_head, bool(theirs.model.heads.predicted_aligned_error.weight),
       'has PAE head'),
  ]
  # Loss weights: one home (LossConfig); AF2 keeps them in its heads.
  th, w = theirs.model.heads, ours.losses
  for ours_name, head in (('distogram_weight', 'distogram'), ('masked_msa_weight', 'masked_msa'),
                          ('plddt_weight', 'predicted_lddt'), ('pae_weight', 'predicted_aligned_error'),
                          ('experimentally_resolved_weight', 'experimentally_resolved'),
                          ('structure_module_weight', 'structure_module')):
    out.append((getattr(w, ours_name), th[head].weight, f'losses.{ours_name}'))
  out += [(w.structural_violation_loss_weight, th.structure_module.structural_violation_loss_weight,
           'structural_violation_loss_weight'),
          (w.sidechain_weight_frac, th.structure_module.sidechain.weight_frac, 'weight_frac'),
          (w.fape_clamp_distance, th.structure_module.fape.clamp_distance, 'fape clamp'),
          (w.chi_weight, th.structure_module.chi_weight, 'chi_weight'),
          (w.angle_norm_weight, th.structure_module.angle_norm_weight, 'angle_norm_weight'),
          (w.violation_tolerance_factor, th.structure_module.violation_tolerance_factor,
           'violation_tolerance_factor'),
          (w.clash_overlap_tolerance, th.structure_module.clash_overlap_tolerance,
           'clash_overlap_tolerance')]
  h = ours.heads
  out += [(h.distogram.num_bins, th.distogram.num_bins, 'distogram.num_bins'),
          (h.distogram.first_break, th.distogram.first_break, 'distogram.first_break'),
          (h.distogram.last_break, th.distogram.last_break, 'distogram.last_break'),
          (h.predicted_lddt.num_bins, th.predicted_lddt.num_bins, 'predicted_lddt.num_bins'),
          (h.masked_msa.num_output, th.masked_msa.num_output, 'masked_msa.num_output'),
          (h.predicted_aligned_error.num_bins, th.predicted_aligned_error.num_bins,
           'predicted_aligned_error.num_bins'),
          (h.predicted_aligned_error.max_error_bin, th.predicted_aligned_error.max_error_bin,
           'predicted_aligned_error.max_error_bin')]
  sm, tsm = ours.structure_module, theirs.model.heads.structure_module
  for f in ('num_layer', 'num_channel', 'num_head', 'num_scalar_qk', 'num_scalar_v',
            'num_point_qk', 'num_point_v', 'num_layer_in_transition', 'position_scale'):
    out.append((getattr(sm, f), tsm[f], f'structure_module.{f}'))
  for block in ('msa_row_attention_with_pair_bias', 'msa_column_attention',
                'triangle_attention_starting_node', 'triangle_attention_ending_node'):
    for f in ('num_head', 'dropout_rate', 'orientation', 'gating'):
      out.append((getattr(getattr(e.evoformer, block), f), te.evoformer[block][f],
                  f'evoformer.{block}.{f}'))
  for block in ('triangle_multiplication_outgoing', 'triangle_multiplication_incoming'):
    for f in ('equation', 'num_intermediate_channel', 'dropout_rate'):
      out.append((getattr(getattr(e.evoformer, block), f), te.evoformer[block][f],
                  f'evoformer.{block}.{f}'))
  return out


@pytest.mark.parametrize('name', NAMES)
def test_af2_presets_equal_af2_v23(name):
  ours, theirs = model_config(name), oracle_config.model_config(name)
  diffs = [(label, a, b) for a, b, label in _pairs(ours, theirs) if a != b]
  assert not diffs, diffs
  assert ours.name == name


def test_overrides_set_every_field_of_that_name():
  cfg = model_config('model_1_ptm', num_recycle=1, evoformer_num_block=2,
                     extra_msa_stack_num_block=1, template_pair_stack_num_block=1,
                     num_ensemble=2, subbatch_size=None)
  assert cfg.num_recycle == cfg.data.num_recycle == 1  # model and pipeline agree
  assert cfg.evoformer.evoformer_num_block == 2
  assert cfg.evoformer.extra_msa_stack_num_block == 1
  assert cfg.evoformer.template.template_pair_stack.num_block == 1
  assert cfg.data.num_ensemble == 2
  assert cfg.global_config.subbatch_size is None
  assert model_config('model_1_ptm').num_recycle == 3  # presets are not mutated
  with pytest.raises(dataclasses.FrozenInstanceError):
    cfg.num_recycle = 5  # type: ignore[misc]


def test_unknown_or_invalid_overrides_fail_clearly():
  with pytest.raises(UnknownFieldError, match="evoformer_num_blok.*did you mean evoformer_num_block"):
    model_config('model_1', evoformer_num_blok=3)
  with pytest.raises(ValueError, match='unknown preset'):
    model_config('model_9')
  with pytest.raises(ValueError, match='at least one MSA cluster'):
    model_config('model_1', max_msa_clusters=2)  # 2 - 4 templates < 1


def test_order_of_dependent_overrides_does_not_matter():
  a = model_config('model_1', max_msa_clusters=1, reduce_msa_clusters_by_max_templates=False)
  b = model_config('model_1', reduce_msa_clusters_by_max_templates=False, max_msa_clusters=1)
  assert a == b and a.data.num_msa_clusters == 1
