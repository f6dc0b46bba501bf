"""The model configuration: one frozen dataclass tree, and presets as small functions.

`model_config(name, **overrides)` returns the preset `name` with fields replaced by name
(see `overrides.replace_everywhere`; a name such as `num_recycle` sets the model's and the input
pipeline's field together). Aliases for nested fields users ask for by AF2's flat names:
`template_pair_stack_num_block`, `structure_module_num_layer`.

Presets: `model_1`..`model_5` and `model_1_ptm`..`model_5_ptm` equal AF2 v2.3 monomer
(Jumper et al. 2021, Suppl. Table 5), `model_{1..5}_multimer_v3` (and `_v2`) AF2-Multimer v2.3,
`tiny` / `tiny_multimer` (tests) and `nano_ipa` (CPU training).

Backbone diffusion presets (`DIFFUSION_PRESETS`, `diffusion_config(name)`): `nano_diffusion`,
the single-sequence Pairformer trunk + SE(3) frame diffusion of model/diffusion/trunk.py. They
are not in `PRESETS`: they sample backbone frames, not all-atom structures with confidence
heads (training: training/presets.py; prediction: inference/diffusion_predict.py).
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Callable, Mapping

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.config.overrides import replace_everywhere
from alphafold_jax.losses.config import LossConfig
from alphafold_jax.model.diffusion.trunk import DiffusionModelConfig
from alphafold_jax.model.embeddings_and_evoformer import EmbeddingsAndEvoformerConfig
from alphafold_jax.model.heads import (DistogramHeadConfig, ExperimentallyResolvedHeadConfig,
                                       MaskedMsaHeadConfig, PredictedAlignedErrorHeadConfig,
                                       PredictedLDDTHeadConfig)
from alphafold_jax.model.structure_module import StructureModuleConfig
from alphafold_jax.model.multimer import embeddings_and_evoformer as multimer_embeddings
from data_pipeline.multimer.config import MultimerFeatureConfig
from data_pipeline.processed_features import FeatureConfig

_field = dataclasses.field


@dataclasses.dataclass(frozen=True)
class HeadsConfig:
  """Output heads' architecture. Which optional heads exist follows the loss weights
  (`ModelConfig.losses`, their one home): as in AF2 a head whose weight is 0 is not built
  (PAE only in `_ptm` models)."""
  distogram: DistogramHeadConfig = _field(default_factory=DistogramHeadConfig)
  masked_msa: MaskedMsaHeadConfig = _field(default_factory=MaskedMsaHeadConfig)
  predicted_lddt: PredictedLDDTHeadConfig = _field(default_factory=PredictedLDDTHeadConfig)
  predicted_aligned_error: PredictedAlignedErrorHeadConfig = _field(
      default_factory=PredictedAlignedErrorHeadConfig)
  experimentally_resolved: ExperimentallyResolvedHeadConfig = _field(
      default_factory=ExperimentallyResolvedHeadConfig)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Everything one model needs: architecture, input pipeline, losses, recycling."""
  name: str = 'model_1_ptm'
  global_config: GlobalConfig = _field(default_factory=GlobalConfig)
  data: FeatureConfig = _field(default_factory=FeatureConfig)
  evoformer: EmbeddingsAndEvoformerConfig = _field(default_factory=EmbeddingsAndEvoformerConfig)
  structure_module: StructureModuleConfig = _field(default_factory=StructureModuleConfig)
  heads: HeadsConfig = _field(default_factory=HeadsConfig)
  losses: LossConfig = _field(default_factory=LossConfig)
  recycle_early_stop_tolerance: float = 0.0
  multimer: bool = False  # AF2-Multimer model (model/multimer/) and input pipeline

  @property
  def num_recycle(self) -> int:
    """Recycling iterations. Its one home is the input pipeline's `data.num_recycle` (it also
    fixes how many MSA resamples the features carry); `model_config(name, num_recycle=N)`."""
    return self.data.num_recycle

  @property
  def has_pae_head(self) -> bool:
    return bool(self.losses.pae_weight)


_ALIASES = {
    'template_pair_stack_num_block': 'evoformer.template.template_pair_stack.num_block',
    'structure_module_num_layer': 'structure_module.num_layer',
}


def _af2_monomer(name: str) -> ModelConfig:
  """AF2 v2.3 monomer presets (alphafold/model/config.py CONFIG_DIFFS)."""
  base, ptm = (name[:-4], True) if name.endswith('_ptm') else (name, False)
  templates = base in ('model_1', 'model_2')
  cfg = ModelConfig(
      name=name,
      data=FeatureConfig(max_extra_msa=5120 if base in ('model_1', 'model_3', 'model_4') else 1024,
                         use_templates=templates,
                         reduce_msa_clusters_by_max_templates=templates),
      # DeepMind's released weights (its heads' `weight` fields): the fine-tuning values of
      # Suppl. Table 6, so the experimentally-resolved head exists as in the parameter files.
      losses=LossConfig.fine_tuning(pae_weight=0.1 if ptm else 0.0),
  )
  return replace_everywhere(cfg, enabled=templates, embed_torsion_angles=templates)


def _tiny() -> ModelConfig:
  """A few-thousand-parameter model for tests (every module present, odd widths)."""
  cfg = _af2_monomer('model_1_ptm')
  return replace_everywhere(
      cfg, name='tiny', msa_channel=12, pair_channel=10, seq_channel=14, extra_msa_channel=6,
      evoformer_num_block=2, extra_msa_stack_num_block=1, num_head=2, num_outer_channel=4,
      num_intermediate_channel=6, template_channel=6, num_channel=16, num_scalar_qk=4,
      num_scalar_v=4, num_point_qk=2, num_point_v=3, num_layer=2, num_channels=8,
      key_dim=None, value_dim=None, num_recycle=1, max_msa_clusters=6, max_extra_msa=5,
      max_templates=2, **{'evoformer.template.template_pair_stack.num_block': 1,
                          'evoformer.template.attention': _tiny_template_attention(cfg)})


def _tiny_template_attention(cfg: ModelConfig):
  return dataclasses.replace(cfg.evoformer.template.attention, num_head=2, key_dim=6, value_dim=6)


def _nano_ipa() -> ModelConfig:
  """AF2 architecture at small widths for CPU training: single sequence, no templates.

  No dropout and no recycling: with AF2's dropout the 60-min CPU run reached 3.3-10.6 A
  CA-RMSD, without it 0.8-6.9 A (experiments/nano_reproduction/README.md).
  """
  return replace_everywhere(
      _af2_monomer('model_5_ptm'), name='nano_ipa', msa_channel=64, pair_channel=64,
      seq_channel=128, extra_msa_channel=16, evoformer_num_block=4, extra_msa_stack_num_block=1,
      num_outer_channel=16, num_intermediate_channel=64, num_channel=128, num_head=4,
      num_layer=4, num_recycle=0, dropout_rate=0.0, dropout=0.0,
      max_msa_clusters=1, max_extra_msa=1,
      resample_msa_in_recycling=False, subbatch_size=None,
      # Initial-training loss weights (no violation or experimentally-resolved terms, hence no
      # such head). Training structures include NMR models (no resolution): keep pLDDT/PAE on.
      losses=LossConfig(filter_by_resolution=False))


def _af2_multimer(name: str) -> ModelConfig:
  """AF2-Multimer presets (alphafold/model/config.py CONFIG_MULTIMER + CONFIG_DIFFS):
  v3 = fused triangle projections, 508 MSA clusters, 2048 extra rows (1152 for models 4-5),
  20 recycles with early stop at 0.5 A; v2 = unfused, 252 / 1152, 3 recycles, no early stop."""
  v3 = name.endswith('_v3')
  index = int(name.split('_')[1])
  evo = multimer_embeddings.MultimerEmbeddingsConfig(
      num_msa=508 if v3 else 252, num_extra_msa=2048 if v3 and index <= 3 else 1152)
  cfg = ModelConfig(
      name=name, multimer=True,
      data=MultimerFeatureConfig(num_recycle=20 if v3 else 3),
      evoformer=evo,
      structure_module=dataclasses.replace(StructureModuleConfig(), position_scale=20.0),
      heads=HeadsConfig(masked_msa=MaskedMsaHeadConfig(num_output=22)),
      losses=LossConfig.fine_tuning(pae_weight=0.1),
      recycle_early_stop_tolerance=0.5 if v3 else 0.0)
  return cfg if v3 else replace_everywhere(cfg, fuse_projection_weights=False)


def _tiny_multimer() -> ModelConfig:
  """A small AF2-Multimer for tests and CLI checks (every module present, odd widths)."""
  return replace_everywhere(
      _af2_multimer('model_1_multimer_v3'), name='tiny_multimer', msa_channel=12,
      pair_channel=10, seq_channel=14, extra_msa_channel=6, evoformer_num_block=1,
      extra_msa_stack_num_block=1, num_head=2, num_outer_channel=4, num_intermediate_channel=6,
      num_channels=8, num_channel=16, num_scalar_qk=4, num_scalar_v=4, num_point_qk=2,
      num_point_v=3, num_layer=2, key_dim=None, value_dim=None, num_recycle=1, num_msa=6,
      num_extra_msa=5, recycle_early_stop_tolerance=0.0,
      **{'evoformer.template.template_pair_stack.num_block': 1})


PRESETS: Mapping[str, Callable[[], ModelConfig]] = types.MappingProxyType({
    **{f'model_{i}_multimer{v}': (lambda n=f'model_{i}_multimer{v}': _af2_multimer(n))
       for i in range(1, 6) for v in ('_v2', '_v3')},
    **{f'model_{i}{s}': (lambda n=f'model_{i}{s}': _af2_monomer(n))
       for i in range(1, 6) for s in ('', '_ptm')},
    'tiny': _tiny,
    'tiny_multimer': _tiny_multimer,
    'nano_ipa': _nano_ipa,
})


DIFFUSION_PRESETS: Mapping[str, Callable[[], DiffusionModelConfig]] = types.MappingProxyType({
    'nano_diffusion': DiffusionModelConfig,  # the dataclass defaults are the preset
})


def diffusion_config(name: str) -> DiffusionModelConfig:
  """The backbone diffusion preset `name` (see the module docstring)."""
  if name not in DIFFUSION_PRESETS:
    raise ValueError(f'unknown diffusion preset {name!r}; available: '
                     f'{", ".join(sorted(DIFFUSION_PRESETS))}')
  return DIFFUSION_PRESETS[name]()


def model_config(name: str, **overrides: Any) -> ModelConfig:
  """The preset `name` with `overrides` applied by field name (unknown names fail)."""
  if name not in PRESETS:
    raise ValueError(f'unknown preset {name!r}; available: {", ".join(sorted(PRESETS))}')
  cfg = PRESETS[name]()
  overrides = {_ALIASES.get(k, k): v for k, v in overrides.items()}
  return replace_everywhere(cfg, **overrides) if overrides else cfg
