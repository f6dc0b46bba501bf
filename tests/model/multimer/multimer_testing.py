"""Shared helpers of the multimer oracle tests."""

import jax.numpy as jnp
import numpy as np


def random_params(shapes, seed, scale=1.0):
  """Generic random parameters for a tree of ShapeDtypeStructs: LayerNorm scales 1 + N(0, .2^2),
  offsets/biases N(0, .2^2), weights N(0, 1/fan_in) (fan_in = the product of the input axes
  when known, else the first non-stack axis). Parameters of stacked layers ([L, ...]) are
  recognised by ndim against the unstacked layout only through `fan_in`, which ignores them."""
  rng = np.random.default_rng(seed)
  out = {}
  for module, leaves in shapes.items():
    out[module] = {}
    for name, sd in leaves.items():
      noise = rng.normal(size=sd.shape).astype(np.float32)
      if name == 'scale':
        value = 1.0 + 0.2 * noise
      elif name in ('offset', 'bias', 'output_b', 'gating_b') or len(sd.shape) <= 1:
        value = 0.2 * noise
      else:
        if name in ('query_w', 'key_w', 'value_w', 'gating_w'):
          fan_in = sd.shape[-3] if len(sd.shape) >= 3 else sd.shape[-2]
        elif name == 'output_w':
          fan_in = sd.shape[-3] * sd.shape[-2]
        else:
          fan_in = sd.shape[-2]
        value = noise / np.sqrt(fan_in)
      out[module][name] = jnp.asarray(scale * value if name not in ('scale',) else value)
  return out
