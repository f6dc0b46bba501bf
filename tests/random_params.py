"""Random, non-trivial parameters for a Haiku parameter tree, without compiling any init.

One helper for every test that fills a `jax.eval_shape(transformed.init, ...)` tree (nested
dicts of ShapeDtypeStructs, Haiku's {module: {name: leaf}}) with random values: none of AF2's
zero/one initialisations survive, so zero-initialised gates and output layers all matter.
Also: a model's own Haiku init without running its forward pass (`init_without_forward`), and
`perturbed` (every leaf + small noise) for tests whose parameters come from the oracle's init.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Union

import jax
import jax.numpy as jnp
from jax.extend import core as jcore
import numpy as np

_BIAS_NAMES = ('offset', 'bias')

# Scopes whose parameters carry a leading [num_block] axis in AF2's (and our) models: the
# Evoformer and extra-MSA stacks, the multimer template stack, the monomer template pair stack
# ('__layer_stack_no_state') and the diffusion trunk's Pairformer.
STACKED_SCOPES = ('evoformer_iteration', 'extra_msa_stack', 'template_embedding_iteration',
                  '__layer_stack', 'pairformer_block')

# The diffusion tests' narrower spreads (LayerNorm scales 1 + N(0, 0.1^2), biases N(0, 0.1^2)).
DIFFUSION_STD = dict(scale_std=0.1, bias_std=0.1)


def fan_in(name: str, shape) -> int:
  """Input width of a weight of (per-layer) `shape` [in..., out...].

  Haiku weights lead with the input axis ([in, out], attention [in, H, c]); the attention /
  outer-product-mean output projection [H, c, out] has both leading axes as inputs.
  """
  if name == 'output_w' and len(shape) == 3:
    return int(shape[0] * shape[1])
  return int(shape[0])


def _is_bias(name: str, shape) -> bool:
  return name in _BIAS_NAMES or name.endswith('_b') or len(shape) <= 1


def random_params(shapes, seed: int, *, scale_std: float = 0.2, bias_std: float = 0.2,
                  weight_gain: float = 1.0, gains: Optional[Mapping[str, float]] = None,
                  stacked: Union[bool, str, Iterable[str]] = False):
  """Random values (NumPy RNG) for every leaf of a parameter-shape tree.

  - LayerNorm `scale`: 1 + N(0, scale_std^2);
  - biases / offsets (names 'offset', 'bias', '*_b', and any 0-/1-D leaf): N(0, bias_std^2);
  - weights: N(0, gain^2 / fan_in), gain = weight_gain times the `gains` value of every key
    that is a substring of the leaf's module path ({'lddt_head': 3.} scales one head's weights).
  Stacked layers' leaves have a leading [num_block] axis that is not part of fan_in: `stacked`
  is True (every leaf), or a scope substring (or several) naming the stacked modules, e.g.
  STACKED_SCOPES for trees with some stacked and some unstacked modules.
  Returns the same tree of jnp arrays, in each leaf's dtype.
  """
  rng = np.random.default_rng(seed)
  gains = dict(gains or {})
  if isinstance(stacked, str):
    stacked = (stacked,)

  def fill(path, leaf):
    keys = [str(getattr(p, 'key', p)) for p in path]
    module, name = '/'.join(keys[:-1]), keys[-1]
    shape = tuple(leaf.shape)
    is_stacked = stacked if isinstance(stacked, bool) else any(s in module for s in stacked)
    base = shape[1:] if is_stacked else shape
    noise = rng.standard_normal(shape)
    if name == 'scale':
      value = 1.0 + scale_std * noise
    elif _is_bias(name, base):
      value = bias_std * noise
    else:
      gain = weight_gain
      for scope, g in gains.items():
        if scope in module:
          gain *= g
      value = noise * (gain / np.sqrt(fan_in(name, base)))
    return jnp.asarray(value.astype(np.float32), leaf.dtype)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def init_without_forward(init_fn, *args):
  """A Haiku `init_fn(*args)` evaluated without its forward pass: the same initialisers, shapes
  and rng stream, for a fraction of the cost.

  Haiku's init runs the whole network, but parameters depend only on the rng. The init is traced
  once (as `jax.eval_shape` would), every equation that no parameter depends on is dropped, and
  the rest (key splitting and the initialisers' sampling) is evaluated op by op as an eager init
  is. AF2-Multimer at real widths, 2 CPU cores, warm compilation cache: ~5 s CPU, against ~60 s
  for the eager init and a ~90 s compile (cold) of `jax.jit(init_fn)`.
  """
  closed, out_shapes = jax.make_jaxpr(init_fn, return_shape=True)(*args)
  jaxpr = closed.jaxpr
  needed = {v for v in jaxpr.outvars if isinstance(v, jcore.Var)}
  kept = []
  for eqn in reversed(jaxpr.eqns):
    if any(v in needed for v in eqn.outvars):
      kept.append(eqn)
      needed.update(v for v in eqn.invars if isinstance(v, jcore.Var))
  pruned = jcore.Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, kept[::-1])
  leaves = jax.core.eval_jaxpr(pruned, closed.consts, *jax.tree_util.tree_leaves(args))
  return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shapes), leaves)


def perturbed(params, seed: int, std: float):
  """Every leaf + N(0, std^2) (NumPy RNG): zero-initialised gates and output layers become live."""
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map(
      lambda x: jnp.asarray(np.asarray(x) + std * rng.standard_normal(x.shape), x.dtype), params)
