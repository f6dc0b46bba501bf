"""Training presets that train the real AlphaFold2 model with the AF2 losses.

`nano_ipa`: single-sequence Evoformer trunk + IPA structure module + heads, all AF2 losses
(FAPE, torsions, distogram, masked MSA, pLDDT, PAE), sized to train on 2 CPU cores.
`tiny_af2`: the `tiny` model preset (tests, smoke runs).
The model configs are the presets of the same name in `alphafold_jax.config`.

Examples (per protein, one common padded length): AF2 processed features with the ensemble
axis dropped (single sequence, so one member) plus the structure labels of
`data_pipeline.labels`. The model reads its features with the ensemble axis restored.
Each training example draws `use_clamped_fape` ~ Bernoulli(TrainConfig.clamped_fape_fraction)
from its step key (Suppl. 1.11.5: backbone FAPE clamped in 90 % of examples, unclamped in the
rest, so large errors also get a gradient).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

import data_pipeline
from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from alphafold_jax.config.presets import ModelConfig
from alphafold_jax.losses.total import alphafold_loss
from alphafold_jax.model.alphafold import AlphaFold
from alphafold_jax.model.run_model import MODEL_FEATURES
from alphafold_jax.training.config import TrainConfig
from data_pipeline import labels as labels_lib
from data_pipeline import transforms


def make_examples(proteins: Sequence[protein_lib.Protein], config: ModelConfig,
                  crop_size: int) -> List[Dict[str, np.ndarray]]:
  """Processed single-sequence features + labels per protein, padded to one length."""
  num_res = min(crop_size, max(p.num_residues for p in proteins))
  examples = []
  for i, prot in enumerate(proteins):
    n = min(prot.num_residues, num_res)
    sequence = ''.join(rc.restypes_with_x[a] for a in prot.aatype[:n])
    raw = data_pipeline.make_raw_features(sequence, f'protein_{i}')
    feature_config = dataclasses.replace(config.data, num_res=num_res)
    feats = data_pipeline.process_features(raw, feature_config, seed=i)
    feats = {k: v[0] for k, v in feats.items()}  # drop the single ensemble member
    labels = labels_lib.make_structure_labels(prot.aatype[:n], prot.atom_positions[:n],
                                              prot.atom_mask[:n])
    labels = transforms.pad_example(labels, num_res)
    feats.update({k: v for k, v in labels.items() if k not in feats})
    examples.append({k: np.asarray(v) for k, v in feats.items()
                     if np.asarray(v).dtype != object})
  return examples


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


def build(config: ModelConfig, crop_size: int, train_config: TrainConfig):
  """(init, loss_fn, make_examples, predict_ca) for the trainer."""
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

  return init, loss_fn, (lambda proteins: make_examples(proteins, config, crop_size)), predict_ca
