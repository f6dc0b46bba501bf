"""Stacking N identical blocks with separate parameters as one `lax.scan` (memory/compile only).

Parameters of a stacked block carry a leading [num_layers] axis, the layout of AF2's parameter
files (`evoformer_iteration/...` has shape [48, ...], `extra_msa_stack/...` [4, ...]).

  * init: the block runs ONCE under a creator that makes every parameter [num_layers, *shape],
    each slice initialised with the init key folded with its layer index; a getter hands the
    block slice 0.
  * apply: `hk.scan` over layer indices; a getter slices each parameter at the current index.
    Each layer runs under its own RNG key (split off a carried key), so dropout differs per
    layer; `unroll=True` unrolls the scan (XLA sees num_layers copies: faster, longer compile).
    The tests check the scan against a hand-written Python loop over sliced parameters.
  * remat: each layer is wrapped in `hk.remat` (activations recomputed in the backward pass).

The scope is the caller's: blocks constructed OUTSIDE the stacked function keep their own
names (AF2's `evoformer_iteration`); pass `name` to put blocks built INSIDE the function under a
scope (AF2's template pair stack uses '__layer_stack_no_state').
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Optional

import haiku as hk
import jax
import jax.numpy as jnp

TEMPLATE_STACK_SCOPE = '__layer_stack_no_state'  # AF2's scope for blocks built inside the stack


class LayerStackError(ValueError):
  """Raised when a stacked parameter does not have the stack's leading axis."""


def _stack_axis(value, context) -> int:
  # Nested stacks add leading axes: ours sits just before the block's own shape.
  return value.ndim - len(context.original_shape) - 1


def _check_stacked(value, context, num_layers):
  axis = _stack_axis(value, context)
  if axis < 0 or value.shape[axis] != num_layers:
    raise LayerStackError(
        f'parameter {context.full_name} has shape {value.shape}; a stack of {num_layers} layers '
        f'expects [{num_layers}, *{tuple(context.original_shape)}]')
  return axis


@contextlib.contextmanager
def _slicing(num_layers: int, index):
  """Getter slicing every parameter at layer `index` (int or traced)."""

  def getter(next_getter, value, context):
    axis = _check_stacked(value, context, num_layers)
    return next_getter(jax.lax.dynamic_index_in_dim(value, index, axis=axis, keepdims=False))

  with hk.custom_getter(getter):
    yield


@contextlib.contextmanager
def _stacked_creation(num_layers: int):
  """Creator that gives each parameter a leading [num_layers] axis, one init key per layer."""

  def creator(next_creator, shape, dtype, init, context):
    del context

    def stacked_init(full_shape, dtype_):
      key = hk.maybe_next_rng_key()

      def one(i):
        if key is None:
          return init(full_shape[1:], dtype_)
        with hk.with_rng(jax.random.fold_in(key, i)):
          return init(full_shape[1:], dtype_)

      return jax.vmap(one)(jnp.arange(num_layers))

    return next_creator((num_layers,) + tuple(shape), dtype, stacked_init)

  with hk.custom_creator(creator):
    yield


def layer_stack(num_layers: int, *, remat: bool = False, unroll: bool = False,
                name: Optional[str] = None) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
  """Decorator: `layer_stack(n)(f)(x)` == x = f(x) n times, each time with its own parameters.

  f maps a pytree carry to a pytree carry of the same structure (e.g. (msa, pair)); it may build
  Haiku modules and call `hk.next_rng_key()`.
  """
  if num_layers < 1:
    raise LayerStackError(f'num_layers must be >= 1, got {num_layers}')

  def wrap(f):
    block = hk.remat(f) if remat else f

    def with_key(key, carry):
      if key is None:
        return block(carry)
      with hk.with_rng(key):
        return block(carry)

    def run(carry):
      if hk.running_init():
        with _stacked_creation(num_layers), _slicing(num_layers, 0):
          return f(carry)
      key = hk.maybe_next_rng_key()

      def one_layer(state, index):
        carry, key = state
        layer_key = None
        if key is not None:
          key, layer_key = jax.random.split(key)
        with _slicing(num_layers, index):
          carry = with_key(layer_key, carry)
        return (carry, key), None

      (carry, _), _ = hk.scan(one_layer, (carry, key), jnp.arange(num_layers),
                              unroll=num_layers if unroll else 1)
      return carry

    def stacked(carry):
      if name is None:
        return run(carry)
      with hk.experimental.name_scope(name):
        return run(carry)

    return stacked

  return wrap
