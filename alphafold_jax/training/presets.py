"""Training presets: which model + which loss + which features, by name.

This is the ONE place with model-specific glue for training. A Preset bundles
  init(rng, example) -> params                         Haiku init on one example
  loss_fn(params, example, rng, num_recycle) -> (loss, metrics)    per example
  make_examples(proteins) -> [per-example feature dicts, common shapes]
  predict_ca(params, example, rng) -> CA [N_res, 3]    for evaluation
  train_config: TrainConfig defaults for the preset
  batch_source(data_dir, config) -> (step -> batch)    optional; default: ExampleSampler over
      make_examples of the directory's structures. AF2 presets can return
      data.DatasetSampler(data_pipeline.dataset.StructureDataset(data_dir, ...), ...).
Everything else (train_step, trainer, CLI) is model-agnostic.

Presets here: 'tiny_ca' (training/tiny_model.py; for tests and smoke runs), 'nano_ipa'
(the real AF2 model at small widths with the AF2 losses; glue in training/af2_presets.py) and
'nano_diffusion' (single-sequence Pairformer trunk + SE(3) frame diffusion; glue in
training/diffusion_presets.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.training import compilation
from alphafold_jax.training import data as data_lib
from alphafold_jax.training import tiny_model
from alphafold_jax.training.config import TrainConfig


class PresetError(ValueError):
  """Unknown preset name."""


@dataclasses.dataclass(frozen=True)
class Preset:
  name: str
  description: str
  init: Callable[[Any, Mapping[str, np.ndarray]], Any]
  loss_fn: Callable
  make_examples: Callable[[Sequence[protein_lib.Protein]], List[Dict[str, np.ndarray]]]
  predict_ca: Callable[[Any, Mapping[str, np.ndarray], Any], Any]
  train_config: TrainConfig = TrainConfig()
  batch_source: Optional[Callable[[str, TrainConfig], Callable[[int], Dict[str, np.ndarray]]]] = None


def structure_examples(proteins: Sequence[protein_lib.Protein], crop_size: int
                       ) -> List[Dict[str, np.ndarray]]:
  """Per-protein features aatype, residue_index (from 0), seq_mask, all_atom_positions,
  all_atom_mask, all padded (or cropped from residue 0) to a common length."""
  if not proteins:
    raise data_lib.DataError('no proteins')
  num_res = min(crop_size, max(p.num_residues for p in proteins))
  out = []
  for p in proteins:
    feats = {
        'aatype': np.asarray(p.aatype, np.int32),
        'residue_index': np.asarray(p.residue_index - p.residue_index[0], np.int32),
        'seq_mask': np.ones(p.num_residues, np.float32),
        'all_atom_positions': np.asarray(p.atom_positions, np.float32),
        'all_atom_mask': np.asarray(p.atom_mask, np.float32),
    }
    out.append(data_lib.pad_residues(feats, num_res))
  return out


def _tiny_ca() -> Preset:
  config = tiny_model.TinyCAConfig()
  forward = tiny_model.make_forward(config)

  def init(rng, example):
    return forward.init(rng, example, 0)

  def loss_fn(params, example, rng, num_recycle):
    return tiny_model.distance_mse_loss(forward.apply(params, rng, example, num_recycle), example)

  train_config = TrainConfig(batch_size=2, learning_rate=3e-3, warmup_steps=10, decay='constant',
                             clip_global_norm=1.0, max_recycle=1, checkpoint_every=50)

  def predict_ca(params, example, rng):
    return forward.apply(params, rng, example, train_config.max_recycle)

  return Preset(name='tiny_ca',
                description='tiny Linear model residue features -> CA (tests, smoke runs)',
                init=init, loss_fn=loss_fn,
                make_examples=lambda proteins: structure_examples(proteins, crop_size=64),
                predict_ca=predict_ca, train_config=train_config)


def _nano_ipa() -> Preset:
  from alphafold_jax.config import model_config  # pylint: disable=g-import-not-at-top
  from alphafold_jax.training import af2_presets  # pylint: disable=g-import-not-at-top
  # The bundled weights' run: no recycling, backbone FAPE always clamped (it predates the
  # AF2 default of 10 % unclamped; a 30-min run with 0.9 was not better: mean 7.6 vs ~7.1 A).
  train_config = TrainConfig(batch_size=1, learning_rate=1e-3, warmup_steps=50,
                             decay='constant', clip_global_norm=0.1, max_recycle=0,
                             sample_recycle=False, clamped_fape_fraction=1.0,
                             checkpoint_every=100, eval_every=100)
  init, loss_fn, make_examples, predict_ca = af2_presets.build(
      model_config('nano_ipa'), crop_size=80, train_config=train_config)
  return Preset(name='nano_ipa',
                description='AF2 Evoformer + IPA structure module at small widths, single '
                            'sequence, all AF2 losses (CPU training)',
                init=init, loss_fn=loss_fn, make_examples=make_examples,
                predict_ca=predict_ca, train_config=train_config)


def _nano_diffusion() -> Preset:
  from alphafold_jax.training import diffusion_presets  # pylint: disable=g-import-not-at-top
  # No recycling; clipping at 1 (the diffusion losses are O(1), AF2's 0.1 is for its losses).
  train_config = TrainConfig(batch_size=1, learning_rate=1e-3, warmup_steps=50,
                             decay='constant', clip_global_norm=1.0, max_recycle=0,
                             sample_recycle=False, checkpoint_every=100, eval_every=100)
  init, loss_fn, predict_ca = diffusion_presets.build(diffusion_presets.DiffusionModelConfig())
  return Preset(name='nano_diffusion',
                description='single-sequence Pairformer trunk + IPA frame denoiser, SE(3) '
                            'diffusion losses + distogram; reverse sampler for prediction',
                init=init, loss_fn=loss_fn,
                make_examples=lambda proteins: structure_examples(proteins, crop_size=80),
                predict_ca=predict_ca, train_config=train_config)


_PRESETS: Dict[str, Callable[[], Preset]] = {
    'tiny_ca': _tiny_ca,
    'nano_ipa': _nano_ipa,
    'nano_diffusion': _nano_diffusion,
}


def preset_names() -> List[str]:
  return sorted(_PRESETS)


def get_preset(name: str) -> Preset:
  """The preset `name`; its `init` is jitted with a cheap (run-once) XLA compile."""
  if name not in _PRESETS:
    raise PresetError(f'unknown training preset {name!r}; available: {preset_names()}')
  preset = _PRESETS[name]()
  return dataclasses.replace(preset, init=compilation.jit_fast_compile(preset.init))
