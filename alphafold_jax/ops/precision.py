"""bf16 compute with fp32 parameters (memory/speed only).

Under `bfloat16_params()` a parameter requested in bf16 is created and stored in fp32 and
cast to bf16 when read, so optimiser state and checkpoints stay fp32 (AF2's bfloat16 context).
`mixed_precision(fn)` runs fn on bf16 copies of its floating inputs inside that context and
casts floating outputs back to fp32. LayerNorm statistics stay fp32 (nn.LayerNorm).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable

import haiku as hk
import jax
import jax.numpy as jnp


def cast_floating(tree: Any, dtype) -> Any:
  """Casts every floating-point array leaf of tree to dtype (ints/bools untouched)."""

  def cast(x):
    if hasattr(x, 'dtype') and jnp.issubdtype(x.dtype, jnp.floating):
      return x.astype(dtype)
    return x

  return jax.tree_util.tree_map(cast, tree)


@contextlib.contextmanager
def bfloat16_params():
  """Parameters asked for in bf16 live in fp32 and are read as bf16."""

  def creator(next_creator, shape, dtype, init, context):
    del context
    if dtype == jnp.bfloat16:
      dtype = jnp.float32
    return next_creator(shape, dtype, init)

  def getter(next_getter, value, context):
    if context.original_dtype == jnp.bfloat16 and value.dtype != jnp.bfloat16:
      value = value.astype(jnp.bfloat16)
    return next_getter(value)

  with hk.custom_creator(creator), hk.custom_getter(getter):
    yield


def mixed_precision(fn: Callable[..., Any], enabled: bool = True,
                    compute_dtype=jnp.bfloat16, cast_inputs: bool = True) -> Callable[..., Any]:
  """fn with floating inputs cast to compute_dtype, fp32 params, fp32 floating outputs.

  Use inside a Haiku transform (e.g. around the trunk) when GlobalConfig.bfloat16 is set.
  cast_inputs=False: inputs are passed as they are, for a fn that casts them itself where
  AF2 does (the trunk computes distances and LayerNorms of recycled / template inputs in fp32
  and casts the results).
  """
  if not enabled:
    return fn

  @functools.wraps(fn)
  def wrapped(*args):
    with bfloat16_params():
      out = fn(*(cast_floating(args, compute_dtype) if cast_inputs else args))
    return cast_floating(out, jnp.float32)

  return wrapped
