"""Typed frozen configs and presets: `model_config(name, **overrides)`."""
from alphafold_jax.config.global_config import GlobalConfig
from alphafold_jax.config.model_config import (HeadsConfig, ModelConfig, PRESETS, model_config)
