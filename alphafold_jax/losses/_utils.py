"""Small numerical helpers shared by the loss files (masked means, cross entropies).

Everything here is a pure jnp function, safe under jit, vmap and grad.
"""

from __future__ import annotations

from typing import Sequence, Union

import jax
import jax.numpy as jnp

Axis = Union[int, Sequence[int], None]


def masked_mean(mask: jnp.ndarray, value: jnp.ndarray, axis: Axis = None,
                eps: float = 1e-10) -> jnp.ndarray:
  """sum(mask * value) / (sum(mask) + eps); `mask` broadcasts against `value`."""
  mask = jnp.broadcast_to(mask, value.shape).astype(value.dtype)
  return jnp.sum(mask * value, axis=axis) / (jnp.sum(mask, axis=axis) + eps)


def softmax_cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  """-sum(labels * log_softmax(logits)) over the last axis. labels: probabilities."""
  return -jnp.sum(labels * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def sigmoid_cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  """Element-wise binary cross entropy with logits (numerically stable form)."""
  return -(labels * jax.nn.log_sigmoid(logits)
           + (1. - labels) * jax.nn.log_sigmoid(-logits))


def resolution_weight(resolution: jnp.ndarray, min_resolution: float,
                      max_resolution: float) -> jnp.ndarray:
  """1.0 when min <= resolution <= max else 0.0 (AF2's filter_by_resolution).

  NMR and distillation examples carry resolution 0 and are thereby excluded.
  """
  resolution = jnp.asarray(resolution)
  return ((resolution >= min_resolution) &
          (resolution <= max_resolution)).astype(jnp.float32)


def safe_norm(x: jnp.ndarray, axis: int = -1, eps: float = 1e-6) -> jnp.ndarray:
  """sqrt(eps + |x|^2): finite value and gradient at x = 0."""
  return jnp.sqrt(eps + jnp.sum(jnp.square(x), axis=axis))

