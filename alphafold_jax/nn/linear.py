"""Linear layer with AlphaFold2's initialisers (Suppl. 1.11.4).

Parameters are named `weights` [*in_dims, *out_dims] and `bias` [*out_dims], the layout of
DeepMind's AF2 parameter files, so official subtrees load unchanged.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import haiku as hk
import jax.numpy as jnp
import numpy as np

# Standard deviation of a unit normal truncated to [-2, 2].
_TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def weight_initializer(kind: str, fan_in: int) -> hk.initializers.Initializer:
  """'linear' (LeCun), 'relu' (He), 'zeros' (AF2 final/gating layers)."""
  if kind == 'zeros':
    return hk.initializers.Constant(0.0)
  scale = {'linear': 1.0, 'relu': 2.0}[kind]
  stddev = np.sqrt(scale / max(1, fan_in)) / _TRUNCATED_NORMAL_STDDEV
  return hk.initializers.TruncatedNormal(mean=0.0, stddev=stddev)


def final_init(global_config) -> str:
  """AF2 'final' initialiser of residual-branch outputs: 'zeros' when
  `global_config.zero_init`, else 'linear' (LeCun)."""
  return 'zeros' if global_config.zero_init else 'linear'


def linear_params(name: str, num_input: int, num_output: int, dtype, initializer: str = 'linear',
                  bias_init: float = 0.0, use_bias: bool = True
                  ) -> Tuple[jnp.ndarray, Optional[jnp.ndarray]]:
  """`weights` [in, out] and `bias` [out] exactly as `Linear(name=name)` creates them.

  Used where a module applies the layer inside a chunked (pure) function.
  """
  with hk.experimental.name_scope(name):
    w = hk.get_parameter('weights', (num_input, num_output), dtype,
                         weight_initializer(initializer, num_input))
    b = (hk.get_parameter('bias', (num_output,), dtype, hk.initializers.Constant(bias_init))
         if use_bias else None)
  return w, b


class Linear(hk.Module):
  """y = x W + b over the last `num_input_dims` axes of x.

  Shapes: x [..., *in_dims] -> y [..., *out_dims], where out_dims = num_output (int or tuple).
  """

  def __init__(self, num_output: Union[int, Sequence[int]], initializer: str = 'linear',
               num_input_dims: int = 1, use_bias: bool = True, bias_init: float = 0.0,
               precision=None, name: str = 'linear'):
    super().__init__(name=name)
    self.output_shape = (num_output,) if isinstance(num_output, int) else tuple(num_output)
    self.initializer = initializer
    self.num_input_dims = num_input_dims
    self.use_bias = use_bias
    self.bias_init = bias_init
    self.precision = precision

  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    n_in = self.num_input_dims
    in_shape = tuple(x.shape[x.ndim - n_in:]) if n_in > 0 else ()
    fan_in = int(np.prod(in_shape))
    w = hk.get_parameter('weights', in_shape + self.output_shape, x.dtype,
                         weight_initializer(self.initializer, fan_in))
    in_letters = 'abcde'[:n_in]
    out_letters = 'hijkl'[:len(self.output_shape)]
    y = jnp.einsum(f'...{in_letters},{in_letters}{out_letters}->...{out_letters}', x, w,
                   precision=self.precision)
    if self.use_bias:
      b = hk.get_parameter('bias', self.output_shape, x.dtype,
                           hk.initializers.Constant(self.bias_init))
      y = y + b
    return y
