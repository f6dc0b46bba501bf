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
