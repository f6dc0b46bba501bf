"""The optax optimiser: Adam/AdamW + linear warm-up + decay + global-norm clipping.

AF2 training recipe (Jumper et al. 2021, Suppl. Sec. 1.11.3): Adam with lr 1e-3,
beta1 0.9, beta2 0.999, eps 1e-6; the learning rate rises linearly over the first
1000 steps and is multiplied by 0.95 after 50k steps; gradient clipping at global norm
0.1. All of it is configured by `TrainConfig` (training/config.py).
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from alphafold_jax.training.config import TrainConfig, TrainConfigError

__all__ = ['TrainConfig', 'TrainConfigError', 'make_schedule', 'make_optimizer']


def make_schedule(config: TrainConfig) -> optax.Schedule:
  """Learning rate as a function of the step: linear warm-up, then the decay.

  Step `s` (0-based; the update applied by the s-th call) gets
    warm-up:  lr * (s + 1) / warmup_steps          for s < warmup_steps
    'constant':    lr
    'step':        lr * decay_rate ** floor(t / decay_steps)   (AF2: x0.95 at 50k)
    'exponential': lr * decay_rate ** (t / decay_steps)
    'cosine':      cosine from lr to lr * decay_rate over decay_steps
  with t = s - warmup_steps. The (s + 1) makes the very first update non-zero.
  """
  lr = float(config.learning_rate)
  warm = int(config.warmup_steps)
  if config.decay == 'constant':
    decay = optax.constant_schedule(lr)
  elif config.decay in ('step', 'exponential'):
    decay = optax.exponential_decay(lr, transition_steps=config.decay_steps,
                                    decay_rate=config.decay_rate,
                                    staircase=config.decay == 'step')
  elif config.decay == 'cosine':
    decay = optax.cosine_decay_schedule(lr, decay_steps=config.decay_steps, alpha=config.decay_rate)
  else:  # TrainConfig validates; keep a clear error for hand-built configs.
    raise TrainConfigError(f'unknown decay {config.decay!r}')
  if warm == 0:
    return decay

  def schedule(step):
    step = jnp.asarray(step)
    warmup_lr = lr * jnp.minimum(step + 1, warm) / warm
    return jnp.where(step < warm, warmup_lr, decay(jnp.maximum(step - warm, 0)))

  return schedule


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
  """optax chain: [clip_by_global_norm] -> Adam(W) with the schedule.

  With `config.clip_per_example` the clipping is done per example in the train step
  (train_step.py) and not repeated here.
  """
  schedule = make_schedule(config)
  parts = []
  if config.clip_global_norm > 0 and not config.clip_per_example:
    parts.append(optax.clip_by_global_norm(config.clip_global_norm))
  if config.optimizer == 'adam':
    parts.append(optax.adam(schedule, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps))
  else:
    parts.append(optax.adamw(schedule, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps,
                             weight_decay=config.weight_decay))
  return optax.chain(*parts)
