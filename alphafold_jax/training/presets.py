"""Training presets: which model + which loss + which features, by name.

This is the ONE place with model-specific glue for training. A Preset bundles
  init(rng, example) -> params                         Haiku init on one example
  loss_fn(params, example, rng, num_recycle) -> (loss, metrics)    per example
  predict_ca(params, example, rng) -> CA [N_res, 3]    for evaluation
  crop_size, feature_config: how its examples are built by the one example builder
      (data_pipeline.examples.build_example); feature_config None = structure-only examples
      (labels + residue_index + seq_mask), else AF2 processed features + labels
  train_config: TrainConfig defaults for the preset
  batch_source(data_dir, config) -> (step -> batch)    optional; default: data.DatasetSampler
      over make_examples of the directory's structures (or any ExampleSet, e.g.
      data_pipeline.dataset.StructureDataset(data_dir, ...) for MSAs on disk).
and two ways to get examples, both `data_pipeline.examples.ExampleSet`s (built on every use):
  make_examples(named, seed)  training: a fresh crop and MSA processing per use, seeded by
      (seed, epoch, index), so a step-keyed sampler redraws them as AF2 does and stays exactly
      resumable; one residue length for all (the longest chain, capped at crop_size)
  make_eval_examples(named)   evaluation: whole chains featurised from their sequence with an
      int seed, as `alphafold-jax predict` does (training.evaluation.Evaluator)
Everything else (train_step, trainer, CLI) is model-agnostic.

AF2's training recipe (Suppl. 1.11, Table 4): 'af2_initial' and 'af2_finetune' (model_1 with
templates on StructureDataset batches with MSAs; `af2_recipe_preset`), and 'tiny_af2_initial' /
'tiny_af2_finetune' (the same recipe at tiny widths).
Presets here: 'tiny_ca' (training/tiny_model.py; for tests and smoke runs), 'nano_ipa'
(the real AF2 model at small widths with the AF2 losses; glue in training/af2_presets.py) and
'nano_diffusion' (single-sequence Pairformer trunk + SE(3) frame diffusion; glue in
training/diffusion_presets.py).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.training import compilation
from alphafold_jax.training import data as data_lib
from alphafold_jax.training import tiny_model
from alphafold_jax.training.config import TrainConfig
from data_pipeline import examples as examples_lib
from data_pipeline.processed_features import FeatureConfig

NamedProteins = Sequence[Tuple[str, protein_lib.Protein]]


class PresetError(ValueError):
  """Unknown preset name."""


@dataclasses.dataclass(frozen=True)
class Preset:
  name: str
  description: str
  init: Callable[[Any, Mapping[str, np.ndarray]], Any]
  loss_fn: Callable
  predict_ca: Callable[[Any, Mapping[str, np.ndarray], Any], Any]
  crop_size: int
  feature_config: Optional[FeatureConfig] = None
  train_config: TrainConfig = TrainConfig()
  batch_source: Optional[Callable[[str, TrainConfig], Callable[[int], Dict[str, np.ndarray]]]] = None

  def make_examples(self, named: NamedProteins, seed: int = 0) -> examples_lib.ExampleSet:
    return training_examples(named, self.crop_size, self.feature_config, seed)

  def make_eval_examples(self, named: NamedProteins) -> examples_lib.ExampleSet:
    return evaluation_examples(named, self.feature_config)


def _sources(named: NamedProteins, numbering: str) -> List[examples_lib.ExampleSource]:
  if not named:
    raise data_lib.DataError('no proteins')
  return [examples_lib.source_from_protein(prot, name, numbering=numbering)
          for name, prot in named]


def training_examples(named: NamedProteins, crop_size: Optional[int],
                      feature_config: Optional[FeatureConfig], seed: int = 0
                      ) -> examples_lib.ExampleSet:
  """Examples of (name, Protein) chains: one contiguous crop of at most crop_size residues,
  redrawn with the MSA processing on every use; every example padded to the longest chain
  (capped at crop_size). Residues are numbered from 0 along each chain."""
  sources = _sources(named, 'structure')
  config = examples_lib.ExampleConfig(
      crop_size=crop_size, buckets=None,
      num_res=examples_lib.common_length(sources, crop_size), feature_config=feature_config)
  return examples_lib.ExampleSet(sources, config, seed)


def evaluation_examples(named: NamedProteins, feature_config: Optional[FeatureConfig]
                        ) -> examples_lib.ExampleSet:
  """Whole chains featurised from their sequence (residues 0..L-1, no MSA), as `alphafold-jax
  predict` does, padded to the longest chain (one compiled predictor); labels for scoring."""
  sources = _sources(named, 'sequence')
  config = examples_lib.ExampleConfig(
      crop_size=None, buckets=None, num_res=examples_lib.common_length(sources, None),
      feature_config=feature_config)
  return examples_lib.ExampleSet(sources, config)


def _tiny_ca() -> Preset:
  config = tiny_model.TinyCAConfig()
  forward = tiny_model.make_forward(config)

  def init(rng, example):
    return forward.init(rng, example, 0)

  def loss_fn(params, example, rng, num_recycle):
    return tiny_model.distance_mse_loss(forward.apply(params, rng, example, num_recycle), example)

  train_config = TrainConfig(batch_size=2, learning_rate=3e-3, warmup_steps=10, decay='constant',
                             clip_global_norm=1.0, max_recycle=1, checkpoint_every=50,
                             ema_decay=0.0)

  def predict_ca(params, example, rng):
    return forward.apply(params, rng, example, train_config.max_recycle)

  return Preset(name='tiny_ca',
                description='tiny Linear model residue features -> CA (tests, smoke runs)',
                init=init, loss_fn=loss_fn, predict_ca=predict_ca, crop_size=64,
                train_config=train_config)


def _nano_ipa(model_overrides: Optional[Mapping[str, Any]] = None,
              fine_tuning: bool = False) -> Preset:
  """nano_ipa, or with fine_tuning its second stage `nano_ipa_finetune` (AF2 Suppl. 1.11,
  Tables 4/6): the same model and parameter tree (start it with --init-params from a nano_ipa
  run), the structural-violation loss on at weight 1.0 as in AF2 but with no flat bottom
  (violation_loss_tolerance_factor 0: AF2's 12 sigma left C-N 0.10-0.16 A off), the peptide
  geometry term (losses/peptide_geometry.py, weight 2.0; not in AF2: it keeps trans peptides
  trans) and learning rate 1.5e-4 (AF2's 5e-4 made the violations worse at batch size 1:
  0.52 vs 0.09 of residues after 300 steps). The experimentally-resolved term stays off in
  both: it would add a head the first stage does not have, and the nano training set holds NMR
  models. The fine-tuned weights are what nano_ipa bundles (recipe:
  experiments/nano_reproduction/README.md)."""
  from alphafold_jax.config import model_config  # pylint: disable=g-import-not-at-top
  from alphafold_jax.training import af2_presets  # pylint: disable=g-import-not-at-top
  # The bundled weights' run: no recycling, backbone FAPE always clamped (it predates the
  # AF2 default of 10 % unclamped; a 30-min run with 0.9 was not better: mean 7.6 vs ~7.1 A).
  train_config = TrainConfig(batch_size=1, learning_rate=1.5e-4 if fine_tuning else 1e-3,
                             warmup_steps=50, decay='constant', clip_global_norm=0.1,
                             max_recycle=0, sample_recycle=False, clamped_fape_fraction=1.0,
                             checkpoint_every=100, eval_every=100, ema_decay=0.0)
  fine_tuning_losses = dict(structural_violation_loss_weight=1.0,
                            violation_loss_tolerance_factor=0.0,
                            peptide_geometry_weight=2.0) if fine_tuning else {}
  # The caller's overrides (train --model-set) win over the fine-tuning loss settings.
  config = model_config('nano_ipa', **{**fine_tuning_losses, **dict(model_overrides or {})})
  init, loss_fn, predict_ca = af2_presets.build(config, train_config=train_config)
  description = ('AF2 Evoformer + IPA structure module at small widths, single sequence, all '
                 'AF2 losses (CPU training)')
  if fine_tuning:
    description = ('nano_ipa fine-tuning stage: violation loss 1.0 (no flat bottom), peptide '
                   'geometry 2.0, lr 1.5e-4 (start from a nano_ipa run: --init-params)')
  return Preset(name='nano_ipa_finetune' if fine_tuning else 'nano_ipa',
                description=description,
                init=init, loss_fn=loss_fn, predict_ca=predict_ca, crop_size=80,
                feature_config=af2_presets.example_feature_config(config),
                train_config=train_config)


def _nano_diffusion() -> Preset:
  from alphafold_jax.config import diffusion_config  # pylint: disable=g-import-not-at-top
  from alphafold_jax.training import diffusion_presets  # pylint: disable=g-import-not-at-top
  # No recycling; clipping at 1 (the diffusion losses are O(1), AF2's 0.1 is for its losses).
  train_config = TrainConfig(batch_size=1, learning_rate=1e-3, warmup_steps=50,
                             decay='constant', clip_global_norm=1.0, max_recycle=0,
                             sample_recycle=False, checkpoint_every=100, eval_every=100,
                             ema_decay=0.0)
  init, loss_fn, predict_ca = diffusion_presets.build(diffusion_config('nano_diffusion'))
  return Preset(name='nano_diffusion',
                description='single-sequence Pairformer trunk + IPA frame denoiser, SE(3) '
                            'diffusion losses + distogram; reverse sampler for prediction',
                init=init, loss_fn=loss_fn, predict_ca=predict_ca, crop_size=80,
                train_config=train_config)


def af2_recipe_preset(stage: str, tiny: bool = False,
                      model_overrides: Optional[Mapping[str, Any]] = None) -> Preset:
  """AF2's training recipe (Suppl. 1.11, Table 4) for stage 'initial' or 'finetune': the
  model_1 architecture with templates (tiny=True: the `tiny` widths, crop 32, for tests),
  the stage's crop / MSA sizes / loss weights (af2_presets.recipe_model_config) and optimiser
  (af2_presets.recipe_train_config: lr schedule, clipping 0.1, recycles sampled per step,
  clamped FAPE 90 %, EMA 0.999). Batches come from data_pipeline.dataset.StructureDataset over
  the --data directory: structures with their MSAs (<stem>.a3m/.sto or <stem>/), each MSA's
  query aligned to the chain (msa_query='align'); bad entries are dropped up front and counted
  (StructureDataset.validate). Template features: none on disk -> zero templates (masked).
  AF2's data recipe (`recipe_sampler`): the resolution / composition filters, chains drawn
  with AF2's length and cluster weights, and TrainConfig.distillation_dir mixed in at
  distillation_fraction (AF2: 75 %) with pLDDT-masked labels.
  model_overrides: extra `model_config` overrides (e.g. widths)."""
  from alphafold_jax.training import af2_presets  # pylint: disable=g-import-not-at-top
  config = af2_presets.recipe_model_config(stage, 'tiny' if tiny else 'model_1',
                                           **dict(model_overrides or {}))
  train_config = af2_presets.recipe_train_config(stage, tiny)
  init, loss_fn, predict_ca = af2_presets.build(config, train_config=train_config)
  feature_config = af2_presets.example_feature_config(config)
  crop_size = (af2_presets.TINY_STAGE_SIZES if tiny else af2_presets.AF2_STAGES[stage])['crop_size']

  def batch_source(data_dir, train_config):
    return recipe_sampler(data_dir, crop_size, feature_config, train_config)

  name = f"{'tiny_' if tiny else ''}af2_{stage}"
  return Preset(name=name,
                description=f'AF2 training recipe, {stage} stage (Suppl. 1.11): crop {crop_size}, '
                            f'MSAs + templates from StructureDataset'
                            + (' (tiny widths, tests)' if tiny else ''),
                init=init, loss_fn=loss_fn, predict_ca=predict_ca, crop_size=crop_size,
                feature_config=feature_config, train_config=train_config,
                batch_source=batch_source)


def recipe_dataset(data_dir, crop_size: int, feature_config: FeatureConfig, seed: int = 0,
                   on_skip: Optional[Callable[[str, str], None]] = None,
                   distillation: bool = False):
  """The validated StructureDataset of an AF2 recipe preset (bad entries dropped, listed in
  `.skipped`; chains AF2's filters reject in `.filtered`); every example padded to crop_size
  residues. distillation: predicted structures, low-pLDDT residues masked."""
  from data_pipeline import dataset as dataset_lib  # pylint: disable=g-import-not-at-top
  dataset = dataset_lib.StructureDataset(data_dir, dataset_lib.DatasetConfig(
      crop_size=crop_size, buckets=None, num_res=crop_size, feature_config=feature_config,
      skip_bad=True, msa_query='align', af2_filters=True, distillation=distillation), seed=seed)
  dataset.validate(on_skip)
  return dataset


def recipe_sampler(data_dir, crop_size: int, feature_config: FeatureConfig,
                   train_config: TrainConfig,
                   on_skip: Optional[Callable[[str, str], None]] = None) -> data_lib.DatasetSampler:
  """AF2's training data (Suppl. 1.2.5, 1.3): the filtered --data chains drawn with AF2's
  weights (length, 1 / cluster size from train_config.cluster_file), and with
  train_config.distillation_dir a self-distillation set mixed in at
  train_config.distillation_fraction of the examples."""
  from data_pipeline import chain_sampling  # pylint: disable=g-import-not-at-top
  tc = train_config
  dataset = recipe_dataset(data_dir, crop_size, feature_config, tc.seed, on_skip)
  clusters = chain_sampling.read_clusters(tc.cluster_file) if tc.cluster_file else None
  distillation = (recipe_dataset(tc.distillation_dir, crop_size, feature_config, tc.seed,
                                 on_skip, distillation=True) if tc.distillation_dir else None)
  return data_lib.DatasetSampler(
      dataset, tc.batch_size, weights=dataset.sampling_probs(clusters),
      distillation=distillation, distillation_fraction=tc.distillation_fraction,
      distillation_weights=distillation.sampling_probs() if distillation is not None else None)


# Presets built on the AF2 model: they take `model_config` overrides (get_preset).
_AF2_MODEL_PRESETS: Dict[str, Callable[[Mapping[str, Any]], Preset]] = {
    'nano_ipa': _nano_ipa,
    'nano_ipa_finetune': lambda overrides: _nano_ipa(overrides, fine_tuning=True),
    'af2_initial': lambda overrides: af2_recipe_preset('initial', False, overrides),
    'af2_finetune': lambda overrides: af2_recipe_preset('finetune', False, overrides),
    'tiny_af2_initial': lambda overrides: af2_recipe_preset('initial', True, overrides),
    'tiny_af2_finetune': lambda overrides: af2_recipe_preset('finetune', True, overrides),
}

_PRESETS: Dict[str, Callable[[], Preset]] = {
    'tiny_ca': _tiny_ca,
    'nano_diffusion': _nano_diffusion,
    **{name: functools.partial(build, None) for name, build in _AF2_MODEL_PRESETS.items()},
}


def preset_names() -> List[str]:
  return sorted(_PRESETS)


def get_preset(name: str, model_overrides: Optional[Mapping[str, Any]] = None) -> Preset:
  """The preset `name`; its `init` is jitted with a cheap (run-once) XLA compile.
  model_overrides: `model_config` overrides (e.g. {'bfloat16': True}) for the presets built on
  the AF2 model (nano_ipa, nano_ipa_finetune, af2_*)."""
  if name not in _PRESETS:
    raise PresetError(f'unknown training preset {name!r}; available: {preset_names()}')
  if not model_overrides:
    preset = _PRESETS[name]()
  elif name in _AF2_MODEL_PRESETS:
    preset = _AF2_MODEL_PRESETS[name](model_overrides)
  else:
    raise PresetError(f'model overrides ({", ".join(sorted(model_overrides))}) apply to the '
                      f'presets on the AF2 model ({", ".join(sorted(_AF2_MODEL_PRESETS))}), '
                      f'not {name!r}')
  return dataclasses.replace(preset, init=compilation.jit_fast_compile(preset.init))
