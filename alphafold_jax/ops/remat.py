"""Rematerialisation that really happens in the backward pass (memory only, no maths).

`jax.checkpoint` marks what to recompute, but the recomputation depends only on the saved
inputs, so XLA's scheduler may run it as early as it likes: on CPU it often runs it right
next to the forward pass, and the saved memory comes back (measured: per-sub-layer
`jax.checkpoint` of an Evoformer iteration left XLA's temp size unchanged, 6.6 -> 6.7 GiB).
Inside a loop (`lax.scan` / `lax.map` bodies) this cannot happen, because each backward
iteration waits for its cotangent; outside one it can.

`remat_in_backward(fn)` makes the same trade with the dependency XLA needs: a custom VJP
whose forward keeps only fn's inputs, and whose backward first makes those inputs depend on
the output cotangent (adding 0 * one cotangent element: an `optimization_barrier` is not
enough, XLA's CPU pipeline removes it and the ordering with it), then recomputes fn and
applies its VJP. The recomputation therefore cannot start before the cotangent exists, i.e.
before the backward pass reaches this function.

fn may close over traced values (Haiku parameters read inside it, a scanned layer index):
it is traced once with `jax.make_jaxpr`, and every constant of that program (closed-over
tracers included, integer ones too) becomes an explicit input of the custom VJP, so nothing
leaks into the backward trace. Values and gradients equal those of fn.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.extend.core as jax_core
import jax.numpy as jnp


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _call(evaluate, consts, flat_args):
  return evaluate(consts, flat_args)


def _call_fwd(evaluate, consts, flat_args):
  return evaluate(consts, flat_args), (consts, flat_args)


def _tie_to(tree, anchor):
  """tree with anchor * 0 added to every floating leaf: equal values, but a data dependency."""
  zero = anchor * 0.0

  def tie(x):
    if jnp.issubdtype(jnp.result_type(x), jnp.inexact):
      return x + zero.astype(jnp.result_type(x))
    return x

  return jax.tree_util.tree_map(tie, tree)


def _call_bwd(evaluate, saved, cotangent):
  consts, flat_args = saved
  # The recomputation must wait for the cotangent. XLA's CPU pipeline drops optimisation
  # barriers (their ordering too), so the dependency is a data one: x + 0 * c, with c one
  # element of the cotangent. XLA does not fold 0 * c for floats (NaN/inf semantics), and
  # x + 0 * c == x for every finite c (a non-finite cotangent makes the gradient NaN anyway).
  leaves = [c for c in jax.tree_util.tree_leaves(cotangent)
            if jnp.issubdtype(jnp.result_type(c), jnp.inexact) and jnp.size(c)]
  if leaves:
    anchor = jnp.ravel(leaves[0])[0].astype(jnp.float32)
    consts, flat_args = _tie_to((consts, flat_args), anchor)
  _, vjp = jax.vjp(evaluate, consts, flat_args)
  return vjp(cotangent)


_call.defvjp(_call_fwd, _call_bwd)


def remat_in_backward(fn: Callable[..., Any]) -> Callable[..., Any]:
  """fn(*args) whose activations are recomputed in the backward pass (see module docstring).

  args and outputs may be pytrees of arrays. Integer inputs get zero (float0) cotangents.
  """

  @functools.wraps(fn)
  def wrapped(*args):
    closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
    flat_args = jax.tree_util.tree_leaves(args)
    jaxpr = closed.jaxpr

    def evaluate(consts, flat):
      return jax_core.jaxpr_as_fun(jax_core.ClosedJaxpr(jaxpr, list(consts)))(*flat)

    out_flat = _call(evaluate, tuple(closed.consts), tuple(flat_args))
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape), out_flat)

  return wrapped
