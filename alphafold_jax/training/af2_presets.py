"""Training presets that train the real AlphaFold2 model with the AF2 losses.

`nano_ipa`: single-sequence Evoformer trunk + IPA structure module + heads, all AF2 losses
(FAPE, torsions, distogram, masked MSA, pLDDT, PAE), sized to train on 2 CPU cores.
`tiny_af2`: the `tiny` model preset (tests, smoke runs).
The model configs are the presets of the same name in `alphafold_jax.config`.

Examples come from the one example builder (`data_pipeline.examples`, via the preset's
`feature_config`): AF2 processed features of ONE ensemble member (`example_feature_config`), the
ensemble axis dropped, plus the structure labels; the MSA processing (cluster sampling, BERT
mask, extra MSA) is redrawn every time an example is used. The model reads its features with
the ensemble axis restored.
Each training example draws `use_clamped_fape` ~ Bernoulli(TrainConfig.clamped_fape_fraction)
from its step key (Suppl. 1.11.5: backbone FAPE clamped in 90 % of examples, unclamped in the
rest, so large errors also get a gradient).
"""

from __future__ import annotations

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.config.presets import ModelConfig
from alphafold_jax.losses.total import alphafold_loss
from alphafold_jax.model.alphafold import AlphaFold
from alphafold_jax.model.run_model import MODEL_FEATURES
from alphafold_jax.training.config import TrainConfig
from data_pipeline.processed_features import FeatureConfig


def example_feature_config(config: ModelConfig) -> FeatureConfig:
  """The model's input-pipeline settings with one ensemble member (one MSA sample per
  example; the training forward and predict_ca read the squeezed features)."""
  return dataclasses.replace(config.data, num_ensemble=1, resample_msa_in_recycling=False)


def _model_batch(example):
  return {k: v[None] for k, v in example.items() if k in MODEL_FEATURES}


def make_forward(config: ModelConfig):
  """hk.transform of (example, num_recycle, is_training) -> AF2 predictions."""

  def forward(example, num_recycle, is_training):
    return AlphaFold(config)(_model_batch(example), is_training=is_training,
                             num_recycle=num_recycle)

  return hk.transform(forward)


def with_fape_clamping(example, rng, clamped_fraction: float):
  """The example with `use_clamped_fape` (scalar 1.0 or 0.0) ~ Bernoulli(clamped_fraction)."""
  use_clamped = jax.random.bernoulli(rng, clamped_fraction)
  return {**example, 'use_clamped_fape': use_clamped.astype(jnp.float32)}


def build(config: ModelConfig, train_config: TrainConfig):
  """(init, loss_fn, predict_ca) for the trainer; examples: `example_feature_config(config)`."""
  forward = make_forward(config)

  def init(rng, example):
    return forward.init(rng, example, 0, True)

  def loss_fn(params, example, rng, num_recycle):
    model_rng, clamp_rng = jax.random.split(rng)
    example = with_fape_clamping(example, clamp_rng, train_config.clamped_fape_fraction)
    predictions = forward.apply(params, model_rng, example, num_recycle, True)
    return alphafold_loss(predictions, example, config.losses)

  def predict_ca(params, example, rng):
    ret = forward.apply(params, rng, example, train_config.max_recycle, False)
    return ret['structure_module']['final_atom_positions'][:, rc.atom_order['CA']]

  return init, loss_fn, predict_ca


# --- AF2's training recipe (Suppl. 1.11, Table 4) ------------------------------------------------

# stage -> (crop size, MSA clusters, extra MSA rows, learning rate, fine-tuning losses)
AF2_STAGES = {
    'initial': dict(crop_size=256, max_msa_clusters=128, max_extra_msa=1024,
                    learning_rate=1e-3, fine_tuning=False),
    'finetune': dict(crop_size=384, max_msa_clusters=512, max_extra_msa=5120,
                     learning_rate=5e-4, fine_tuning=True),
}
# The tiny_ variants: the same recipe at test widths (`tiny` model, small crop and MSA).
TINY_STAGE_SIZES = dict(crop_size=32, max_msa_clusters=6, max_extra_msa=5)


def recipe_model_config(stage: str, base: str = 'model_1', **model_overrides) -> ModelConfig:
  """The model of an AF2 training stage: `base` (model_1: templates, the model AF2's recipe
  trained first) with the stage's MSA sizes, templates on, and the stage's loss weights
  (fine-tuning: violation 1.0, experimentally resolved 0.01 -- which also creates that head;
  LossConfig.fine_tuning). No pTM/PAE term (AF2 fine-tuned pTM separately)."""
  from alphafold_jax.config import model_config  # pylint: disable=g-import-not-at-top
  from alphafold_jax.losses.config import LossConfig  # pylint: disable=g-import-not-at-top
  stage_cfg = AF2_STAGES[stage]
  losses = (LossConfig.fine_tuning(pae_weight=0.0) if stage_cfg['fine_tuning']
            else LossConfig(pae_weight=0.0))
  sizes = {'max_msa_clusters': stage_cfg['max_msa_clusters'],
           'max_extra_msa': stage_cfg['max_extra_msa']}
  if base == 'tiny':
    sizes.update(max_msa_clusters=TINY_STAGE_SIZES['max_msa_clusters'],
                 max_extra_msa=TINY_STAGE_SIZES['max_extra_msa'])
  config = model_config(base, **{**sizes, **model_overrides})
  data = dataclasses.replace(config.data, use_templates=True,
                             reduce_msa_clusters_by_max_templates=False)
  return dataclasses.replace(config, data=data, losses=losses)


def recipe_train_config(stage: str, tiny: bool = False) -> TrainConfig:
  """AF2's optimisation recipe: Adam, lr 1e-3 (fine-tuning 5e-4), linear warm-up over 1000
  steps, x0.95 after 50k steps, gradient clipping 0.1, recycles ~ U{0..3} per step, backbone
  FAPE clamped in 90 % of examples, EMA 0.999, batch 128 (tiny: batch 1, warm-up 2)."""
  return TrainConfig(batch_size=1 if tiny else 128,
                     learning_rate=AF2_STAGES[stage]['learning_rate'],
                     warmup_steps=2 if tiny else 1000, decay='step', decay_steps=50_000,
                     decay_rate=0.95, clip_global_norm=0.1, max_recycle=1 if tiny else 3,
                     sample_recycle=True, clamped_fape_fraction=0.9, ema_decay=0.999,
                     checkpoint_every=100 if tiny else 1000)
