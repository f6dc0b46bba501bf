"""TrainState: everything that changes during training, as one jax pytree.

  params     Haiku params {scope: {name: array}} (float32 master copy)
  opt_state  the optax state of `make_optimizer(config)`
  step       int32 scalar, number of updates applied so far
  rng        uint32[2] raw PRNG key (jax.random.PRNGKey layout); split once per step
  ema_params exponential moving average of params (Suppl. 1.11.7: decay 0.999), updated after
             every step as ema <- d * ema + (1 - d) * params (TrainConfig.ema_decay; d = 0
             keeps ema_params == params); the weights that are exported and evaluated

Saving these five (checkpoints.py) is sufficient to continue a run bit-identically,
given batches that are a pure function of (seed, step) (see data.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class TrainState(NamedTuple):
  params: Any
  opt_state: Any
  step: jnp.ndarray  # [] int32
  rng: jnp.ndarray  # [2] uint32
  ema_params: Any = None  # same tree as params; create_train_state starts it at params


def ema_update(ema: Any, params: Any, decay: float) -> Any:
  """ema <- decay * ema + (1 - decay) * params, leafwise (decay 0: params)."""
  if not decay:
    return params
  return jax.tree.map(lambda e, p: decay * e + (1. - decay) * p, ema, params)


def create_train_state(params: Any, optimizer: optax.GradientTransformation,
                       rng: jnp.ndarray) -> TrainState:
  """Fresh state at step 0. `rng` is a raw uint32[2] key (e.g. jax.random.PRNGKey(seed))."""
  rng = jnp.asarray(rng)
  if rng.shape != (2,) or rng.dtype != jnp.uint32:
    raise ValueError(f'create_train_state: rng must be a raw uint32[2] PRNG key, '
                     f'got {rng.dtype}{list(rng.shape)}')
  params = jax.tree.map(jnp.asarray, params)
  return TrainState(params=params, opt_state=optimizer.init(params),
                    step=jnp.zeros((), jnp.int32), rng=rng,
                    ema_params=jax.tree.map(jnp.copy, params))


def num_params(params: Any) -> int:
  """Total number of scalar parameters."""
  return int(sum(x.size for x in jax.tree.leaves(params)))
