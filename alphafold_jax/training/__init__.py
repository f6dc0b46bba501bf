"""Training: train state, optax chain, data-parallel train step, checkpoints, loop.

Public names (imported lazily so `import alphafold_jax.training` stays light):
  TrainConfig                  training/config.py   (AF2 defaults, Suppl. 1.11.3)
  make_optimizer, make_schedule training/optimizer.py
  TrainState, create_train_state training/state.py
  make_train_step, jit_train_step   training/train_step.py
  make_mesh, shard_batch, replicate   training/sharding.py
  Checkpointer, export_params  training/checkpoints.py
  Evaluator                    training/evaluation.py
  ExampleSampler               training/data.py
  train, Trainer               training/trainer.py
  get_preset                   training/presets.py
"""

import importlib

_LAZY = {
    'TrainConfig': 'alphafold_jax.training.config',
    'make_optimizer': 'alphafold_jax.training.optimizer',
    'make_schedule': 'alphafold_jax.training.optimizer',
    'TrainState': 'alphafold_jax.training.state',
    'create_train_state': 'alphafold_jax.training.state',
    'make_train_step': 'alphafold_jax.training.train_step',
    'jit_train_step': 'alphafold_jax.training.train_step',
    'make_mesh': 'alphafold_jax.training.sharding',
    'shard_batch': 'alphafold_jax.training.sharding',
    'replicate': 'alphafold_jax.training.sharding',
    'Checkpointer': 'alphafold_jax.training.checkpoints',
    'export_params': 'alphafold_jax.training.checkpoints',
    'Evaluator': 'alphafold_jax.training.evaluation',
    'ExampleSampler': 'alphafold_jax.training.data',
    'train': 'alphafold_jax.training.trainer',
    'Trainer': 'alphafold_jax.training.trainer',
    'get_preset': 'alphafold_jax.training.presets',
}

__all__ = sorted(_LAZY)


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
