"""The bundled weights load into their preset with every entry's name and shape checked."""

import numpy as np

from alphafold_jax.config import DIFFUSION_PRESETS, diffusion_config, model_config
from alphafold_jax.inference import diffusion_predict, weights
from alphafold_jax.params import load_alphafold_params


def test_every_bundled_preset_loads_with_exact_shapes():
  presets = weights.bundled_presets()
  assert 'nano_ipa' in presets
  for name in presets:
    if name in DIFFUSION_PRESETS:  # nano_diffusion (inference/diffusion_predict.py)
      expected = diffusion_predict.expected_param_shapes(diffusion_config(name))
    else:
      expected = weights.expected_param_shapes(model_config(name))
    params = load_alphafold_params(weights.bundled_weights_path(name), expected=expected)
    leaves = [v for scope in params.values() for v in scope.values()]
    assert all(np.all(np.isfinite(v)) for v in leaves)
    assert any(np.any(v != 0) for v in leaves)  # trained, not an all-zero placeholder


def test_default_preset_is_the_bundled_one():
  assert weights.default_preset() == 'nano_ipa'
