"""LayerNorm over the channel axis, params `scale` and `offset` as in AF2's files.

Under bf16 compute the statistics are taken in float32 and the result cast back.
"""

import haiku as hk
import jax.numpy as jnp


class LayerNorm(hk.LayerNorm):
  """Layer normalisation of the last axis (create_scale and create_offset on)."""

  def __init__(self, name: str = 'layer_norm', eps: float = 1e-5):
    super().__init__(axis=-1, create_scale=True, create_offset=True, eps=eps, name=name)

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    if x.dtype == jnp.bfloat16:
      return super().__call__(x.astype(jnp.float32)).astype(jnp.bfloat16)
    return super().__call__(x)
