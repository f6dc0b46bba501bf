"""Typed frozen configs and presets: `model_config(name, **overrides)`.

The top of the library's layers below training/inference (see docs/ARCHITECTURE.md): presets
combine the model's, the input pipeline's and the losses' configs, so this package may import
all of them. Model code never imports it: `GlobalConfig` lives in `alphafold_jax.ops` (the layer
that reads it) and is re-exported here.
"""

from alphafold_jax.config.overrides import UnknownFieldError, replace_everywhere
from alphafold_jax.config.presets import (DIFFUSION_PRESETS, PRESETS, HeadsConfig, ModelConfig,
                                         diffusion_config, model_config)
from alphafold_jax.ops.global_config import GlobalConfig

__all__ = ['DIFFUSION_PRESETS', 'GlobalConfig', 'HeadsConfig', 'ModelConfig', 'PRESETS',
           'UnknownFieldError', 'diffusion_config', 'model_config', 'replace_everywhere']
