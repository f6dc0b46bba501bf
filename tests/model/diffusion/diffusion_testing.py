"""Shared helpers for the diffusion tests (not a test module)."""

import jax
import numpy as np


def random_params(init_fn, *args, seed: int = 0):
  """Random, non-trivial parameters with init_fn's tree and shapes, without compiling init.

  jax.eval_shape gives the shapes; weights ~ N(0, 1/fan_in), everything else (biases,
  LayerNorm scale/offset, IPA point weights) ~ N(default, 0.1^2) with scale around 1.
  """
  shapes = jax.eval_shape(init_fn, jax.random.PRNGKey(0), *args)
  rng = np.random.RandomState(seed)

  def fill(path, leaf):
    name = str(path[-1])
    shape = leaf.shape
    if 'scale' in name:
      return (1. + 0.1 * rng.randn(*shape)).astype(np.float32)
    if len(shape) >= 2:
      fan_in = int(np.prod(shape[:-1]))
      return (rng.randn(*shape) / np.sqrt(fan_in)).astype(np.float32)
    return (0.1 * rng.randn(*shape)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(fill, shapes)
