"""TrainConfig: every knob of the training loop in one typed frozen dataclass.

Defaults follow the AF2 supplement (Jumper et al. 2021, Suppl. Sec. 1.11.3, Table 4):
Adam (beta1 0.9, beta2 0.999, eps 1e-6), base learning rate 1e-3, linear warm-up over
the first 1000 steps, the learning rate multiplied by 0.95 after 50k steps, gradients
clipped to global norm 0.1, the number of recycling iterations sampled uniformly in
[0, 3] once per step (Suppl. 1.10) and shared by the whole batch.

Sharding rules (which mesh axis shards the batch) live here, not in model code.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

_OPTIMIZERS = ('adam', 'adamw')
_DECAYS = ('constant', 'step', 'exponential', 'cosine')


class TrainConfigError(ValueError):
  """A training configuration value is invalid."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Training-loop configuration (AF2 defaults; Suppl. 1.11.3)."""

  # Run.
  seed: int = 0
  batch_size: int = 1  # GLOBAL batch (all devices, all hosts).
  num_steps: int = 1000

  # Optimiser (optimizer.py).
  optimizer: str = 'adam'  # 'adam' | 'adamw'
  learning_rate: float = 1e-3
  adam_b1: float = 0.9
  adam_b2: float = 0.999
  adam_eps: float = 1e-6
  weight_decay: float = 0.0  # only for 'adamw'
  warmup_steps: int = 1000  # linear 0 -> learning_rate
  decay: str = 'step'  # 'constant' | 'step' | 'exponential' | 'cosine'
  decay_steps: int = 50_000  # step: boundary; exponential: e-folding-like period; cosine: length
  decay_rate: float = 0.95  # step / exponential factor; cosine: final lr fraction
  clip_global_norm: float = 0.1  # <= 0 disables clipping
  # DISCREPANCY: the supplement clips the gradient of EACH example; DeepMind's released
  # code has no training loop. True = per example (then averaged), False = optax
  # clip_by_global_norm on the batch-mean gradient (OpenFold's choice, cheaper).
  clip_per_example: bool = False

  # Exponential moving average of the parameters (Suppl. 1.11.7: decay 0.999), kept in the
  # train state and exported / evaluated as the weights. 0 disables it (ema == params); the
  # small CPU presets set 0 (their short runs would export barely-trained averages).
  ema_decay: float = 0.999

  # Recycling (Suppl. 1.10): N_cycle ~ U{0..max_recycle} per step, shared by all devices.
  max_recycle: int = 3
  sample_recycle: bool = True  # False: always max_recycle

  # Backbone FAPE (Suppl. 1.11.5): clamped at 10 A in this fraction of training examples,
  # unclamped in the rest (AF2: 0.9). Read by the AF2-loss presets (af2_presets.py).
  clamped_fape_fraction: float = 0.9

  # Memory and precision are model settings with one home each: remat and chunking in the
  # model's GlobalConfig (ops/memory_policy.py), bf16 compute in GlobalConfig.bfloat16.

  # Sharding rules: the batch axis is sharded over this mesh axis, params replicated.
  data_axis: str = 'data'

  # Training data of the AF2 recipe presets (presets.af2_recipe_preset; Suppl. 1.2.5, 1.3).
  # A self-distillation set: predicted structures with pLDDT in the B-factor column (residues
  # below data_pipeline.distillation.DISTILLATION_MIN_PLDDT masked); '' = none.
  distillation_dir: str = ''
  distillation_fraction: float = 0.75  # share of examples from distillation_dir (AF2: 75 %)
  # Sequence clusters of the --data chains (one cluster per line, members by file stem) for
  # AF2's 1 / cluster-size sampling weight; '' = every chain its own cluster.
  cluster_file: str = ''

  # Input pipeline (training/loader.py): batches featurised in this many worker processes,
  # each prefetching prefetch_depth batches; 0 = in the training process, no prefetch.
  loader_workers: int = 0
  prefetch_depth: int = 2

  # Loop bookkeeping.
  log_every: int = 1
  checkpoint_every: int = 100  # 0 disables periodic checkpoints (a final one is still saved)
  keep_checkpoints: int = 3
  eval_every: int = 0  # 0 disables periodic evaluation

  def __post_init__(self):
    def need(cond, msg):
      if not cond:
        raise TrainConfigError(f'TrainConfig: {msg}')
    need(self.batch_size >= 1, f'batch_size must be >= 1, got {self.batch_size}')
    need(self.num_steps >= 0, f'num_steps must be >= 0, got {self.num_steps}')
    need(self.optimizer in _OPTIMIZERS, f'optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}')
    need(self.learning_rate > 0, f'learning_rate must be > 0, got {self.learning_rate}')
    need(0 <= self.adam_b1 < 1 and 0 <= self.adam_b2 < 1, 'adam_b1/adam_b2 must be in [0, 1)')
    need(self.adam_eps > 0, f'adam_eps must be > 0, got {self.adam_eps}')
    need(self.weight_decay >= 0, f'weight_decay must be >= 0, got {self.weight_decay}')
    need(self.weight_decay == 0 or self.optimizer == 'adamw',
         "weight_decay needs optimizer='adamw'")
    need(self.warmup_steps >= 0, f'warmup_steps must be >= 0, got {self.warmup_steps}')
    need(self.decay in _DECAYS, f'decay must be one of {_DECAYS}, got {self.decay!r}')
    need(self.decay_steps >= 1, f'decay_steps must be >= 1, got {self.decay_steps}')
    need(0 < self.decay_rate <= 1 or (self.decay == 'cosine' and self.decay_rate == 0),
         f'decay_rate must be in (0, 1], got {self.decay_rate}')
    need(0 <= self.ema_decay < 1, f'ema_decay must be in [0, 1), got {self.ema_decay}')
    need(self.max_recycle >= 0, f'max_recycle must be >= 0, got {self.max_recycle}')
    need(0 <= self.clamped_fape_fraction <= 1,
         f'clamped_fape_fraction must be in [0, 1], got {self.clamped_fape_fraction}')
    need(bool(self.data_axis), 'data_axis must be a non-empty mesh axis name')
    need(0 <= self.distillation_fraction <= 1,
         f'distillation_fraction must be in [0, 1], got {self.distillation_fraction}')
    need(self.loader_workers >= 0, f'loader_workers must be >= 0, got {self.loader_workers}')
    need(self.prefetch_depth >= 1, f'prefetch_depth must be >= 1, got {self.prefetch_depth}')
    for name in ('log_every', 'checkpoint_every', 'eval_every'):
      need(getattr(self, name) >= 0, f'{name} must be >= 0')
    need(self.log_every >= 1, 'log_every must be >= 1')
    need(self.keep_checkpoints >= 1, f'keep_checkpoints must be >= 1, got {self.keep_checkpoints}')

  def replace(self, **changes: Any) -> 'TrainConfig':
    return with_overrides(self, changes)

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def with_overrides(config: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
  """Returns `config` with `overrides` applied; unknown keys raise TrainConfigError."""
  known = {f.name for f in dataclasses.fields(TrainConfig)}
  unknown = sorted(set(overrides) - known)
  if unknown:
    raise TrainConfigError(f'TrainConfig has no field(s) {unknown}; known: {sorted(known)}')
  return dataclasses.replace(config, **dict(overrides))


def from_dict(values: Mapping[str, Any]) -> TrainConfig:
  """TrainConfig from a dict (e.g. a checkpoint's JSON metadata); unknown keys fail."""
  return with_overrides(TrainConfig(), values)
