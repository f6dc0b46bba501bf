"""Typed frozen configs and presets: `model_config(name, **overrides)`.

`model_config` and `ModelConfig` are loaded lazily: model modules import
`alphafold_jax.ops.global_config`, and the full config tree imports those modules.
"""

import importlib

from alphafold_jax.ops.global_config import GlobalConfig

_LAZY = ('HeadsConfig', 'ModelConfig', 'PRESETS', 'model_config')


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module('alphafold_jax.config.presets'), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
