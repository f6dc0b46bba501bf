"""AlphaFold2 dropout on residual updates, shared along rows or columns (Suppl. 1.11.6).

In the Evoformer every residual branch ends in dropout. AF2 "shares" the dropout mask along
one axis of the representation: `DropoutRowwise` uses one mask for every row of the MSA or pair
(the mask varies along residues/channels only), `DropoutColumnwise` one mask for every column.
DeepMind's code calls these orientations 'per_row' (mask broadcast along axis 0) and
'per_column' (mask broadcast along axis 1).

Shapes: update [N_a, N_b, c]; the mask has shape [1, N_b, c] ('per_row') or [N_a, 1, c]
('per_column'), or the full shape when sharing is off.
"""

from __future__ import annotations

from typing import Optional

import haiku as hk
import jax
import jax.numpy as jnp

_ORIENTATION_TO_SHARED_AXIS = {'per_row': 0, 'per_column': 1}


class DropoutConfigError(ValueError):
  """Raised for an unknown dropout orientation or an invalid rate."""


def shared_axis(orientation: str, shared_dropout: bool) -> Optional[int]:
  """The axis along which one dropout mask is shared, or None (independent mask)."""
  if orientation not in _ORIENTATION_TO_SHARED_AXIS:
    raise DropoutConfigError(
        f"dropout orientation must be 'per_row' or 'per_column', got {orientation!r}")
  return _ORIENTATION_TO_SHARED_AXIS[orientation] if shared_dropout else None


def dropout(x: jnp.ndarray, rate: float, key: jax.Array,
            broadcast_axis: Optional[int] = None) -> jnp.ndarray:
  """Inverted dropout with an explicit key; one mask is shared along `broadcast_axis`."""
  if not 0.0 <= rate < 1.0:
    raise DropoutConfigError(f'dropout rate must lie in [0, 1), got {rate}')
  if rate == 0.0:
    return x
  mask_shape = list(x.shape)
  if broadcast_axis is not None:
    mask_shape[broadcast_axis] = 1
  keep_prob = 1.0 - rate
  keep = jax.random.bernoulli(key, keep_prob, shape=mask_shape)  # broadcastable to x
  return jnp.where(keep, x / keep_prob, jnp.zeros_like(x))


def dropout_residual(act: jnp.ndarray, update: jnp.ndarray, *, rate: float, orientation: str,
                     shared_dropout: bool, global_config, is_training: bool) -> jnp.ndarray:
  """act + Dropout(update), AF2's residual wrapper around every Evoformer sub-block.

  Dropout is active when (`is_training` or `global_config.eval_dropout`) and not
  `global_config.deterministic`; its key comes from `hk.next_rng_key()` (so the caller's
  `hk.transform(...).apply(params, key, ...)` key drives it).
  """
  axis = shared_axis(orientation, shared_dropout)
  active = (is_training or global_config.eval_dropout) and not global_config.deterministic
  if active and rate > 0.0:
    update = dropout(update, rate, hk.next_rng_key(), broadcast_axis=axis)
  return act + update
