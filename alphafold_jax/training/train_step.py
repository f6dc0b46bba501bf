"""The jitted, data-parallel train step around a user-supplied per-example loss.

Contract of the loss (one example, no batch axis; pure):
    loss_fn(params, example, rng, num_recycle) -> (loss [] float, metrics {name: array})
  example      dict of arrays WITHOUT the batch axis (as AF2 modules expect)
  rng          raw uint32[2] key, distinct per example
  num_recycle  int32 scalar TRACER (sampled once per step; the model must accept a
               traced count, e.g. via lax.fori_loop / while_loop as AF2 does)

One step (Suppl. 1.11.3 + 1.10):
  1. rng -> (next rng, step key); step key -> (recycle key, example keys [B]).
  2. N_cycle ~ U{0..max_recycle} from the recycle key: ONE draw per step, identical on
     every device and every host (it is computed from the replicated state).
  3. vmap(loss_fn) over the global batch; loss = batch mean; value_and_grad.
     Under jit with a sharded batch the mean is an all-reduce: gradients are the
     global-batch average on every device.
  4. optax update (clip -> Adam(W)), step += 1, EMA of the params (TrainConfig.ema_decay).
Per-example keys depend on the example's GLOBAL batch index only, so the step is
the same on 1 or N devices and deterministic for a seed.
"""

from __future__ import annotations

import functools

from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from alphafold_jax.training import sharding as sharding_lib
from alphafold_jax.training.config import TrainConfig
from alphafold_jax.training.optimizer import make_schedule
from alphafold_jax.training.state import TrainState, ema_update

LossFn = Callable[[Any, Mapping[str, jnp.ndarray], jnp.ndarray, jnp.ndarray],
                  Tuple[jnp.ndarray, Dict[str, jnp.ndarray]]]


def _per_example(loss_fn: LossFn) -> LossFn:
  """loss_fn with float32 loss and metrics (precision and remat are the model's settings)."""

  def fn(params, example, rng, num_recycle):
    loss, metrics = loss_fn(params, example, rng, num_recycle)
    metrics = jax.tree.map(lambda m: jnp.asarray(m, jnp.float32), dict(metrics))
    return jnp.asarray(loss, jnp.float32), metrics

  return fn


def sample_num_recycle(key: jnp.ndarray, config: TrainConfig) -> jnp.ndarray:
  """N_cycle ~ U{0..max_recycle} (Suppl. 1.10), or max_recycle if sampling is off."""
  if not config.sample_recycle:
    return jnp.asarray(config.max_recycle, jnp.int32)
  return jax.random.randint(key, (), 0, config.max_recycle + 1, dtype=jnp.int32)


def _batch_size(batch: Mapping[str, jnp.ndarray]) -> int:
  sizes = {jnp.shape(v)[0] for v in jax.tree.leaves(batch)}
  if len(sizes) != 1:
    raise ValueError(f'train_step: batch leaves disagree on the batch size: {sorted(sizes)}')
  return sizes.pop()


def _mean_metrics(metrics: Dict[str, jnp.ndarray]) -> Dict[str, jnp.ndarray]:
  return {k: jnp.mean(v) for k, v in metrics.items()}


def make_train_step(loss_fn: LossFn, optimizer: optax.GradientTransformation,
                    config: TrainConfig, spmd_axis_name: Optional[str] = None
                    ) -> Callable[[TrainState, Mapping], Tuple[TrainState, Dict]]:
  """Returns the UN-jitted step(state, batch) -> (state, metrics); see jit_train_step.

  spmd_axis_name: the data mesh axis, when the model also splits residues over another mesh
  axis (2-D data x residue mesh, training/sharding.py): the example axis of the vmap stays
  split over it inside the model's residue sharding constraints, and the gradients are taken
  per example and then averaged (`per_example_grads`). The plain grad of the batch mean makes
  every weight gradient ONE dot contracting the example axis (split over data) together with
  the residue axes (split over rows in one operand, columns in the other), which XLA's SPMD
  partitioner (jax 0.10.2, CPU) computes wrongly: up to 58% off on a 2 x 2 mesh, see
  experiments/benchmarks/README.md. Per-example grads keep the example axis a dot batch axis.
  """
  per_example = _per_example(loss_fn)
  schedule = make_schedule(config)
  vmap = functools.partial(jax.vmap, spmd_axis_name=spmd_axis_name)
  vmapped = vmap(per_example, in_axes=(None, 0, 0, None))  # over examples

  def batch_loss(params, batch, keys, num_recycle):
    losses, metrics = vmapped(params, batch, keys, num_recycle)  # [B], {k: [B, ...]}
    return jnp.mean(losses), metrics

  def per_example_grads(params, batch, keys, num_recycle, clip: bool):
    """Each example's gradient [B, ...], then their mean; with clip (DISCREPANCY-aware option)
    each is clipped to config.clip_global_norm first (Suppl. 1.11.3)."""
    grad_fn = jax.value_and_grad(per_example, has_aux=True)

    def one(example, key):
      (loss, metrics), grads = grad_fn(params, example, key, num_recycle)
      if not clip:
        return loss, metrics, grads
      norm = optax.global_norm(grads)
      scale = jnp.minimum(1., config.clip_global_norm / jnp.maximum(norm, 1e-12))
      return loss, metrics, jax.tree.map(lambda g: g * scale, grads)

    losses, metrics, grads = vmap(one)(batch, keys)  # [B], ..., leaves [B, ...]
    return jnp.mean(losses), metrics, jax.tree.map(lambda g: jnp.mean(g, 0), grads)

  def step(state: TrainState, batch: Mapping[str, jnp.ndarray]):
    b = _batch_size(batch)
    next_rng, step_key = jax.random.split(state.rng)
    recycle_key, example_key = jax.random.split(step_key)
    num_recycle = sample_num_recycle(recycle_key, config)  # [] int32, shared
    keys = jax.random.split(example_key, b)  # [B, 2] one key per global example index
    clip = config.clip_per_example and config.clip_global_norm > 0
    if clip or spmd_axis_name is not None:
      loss, metrics, grads = per_example_grads(state.params, batch, keys, num_recycle, clip)
    else:
      (loss, metrics), grads = jax.value_and_grad(batch_loss, has_aux=True)(
          state.params, batch, keys, num_recycle)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    out = dict(_mean_metrics(metrics))
    out.update(loss=loss, grad_norm=optax.global_norm(grads),
               learning_rate=jnp.asarray(schedule(state.step), jnp.float32),
               num_recycle=num_recycle)
    new_state = TrainState(params=params, opt_state=opt_state, step=state.step + 1, rng=next_rng,
                           ema_params=ema_update(state.ema_params, params, config.ema_decay))
    return new_state, out

  return step


def jit_train_step(step_fn: Callable, mesh: Optional[jax.sharding.Mesh] = None,
                   axis_name: Optional[str] = None, donate: bool = False) -> Callable:
  """jit with the data-parallel shardings (state replicated, batch split on axis 0).

  mesh=None: plain jit (single device). donate=True donates the old state buffers.
  """
  donate_argnums = (0,) if donate else ()
  if mesh is None:
    return jax.jit(step_fn, donate_argnums=donate_argnums)
  rep = sharding_lib.replicated(mesh)
  data = sharding_lib.batch_sharding(mesh, axis_name)
  return jax.jit(step_fn, in_shardings=(rep, data), out_shardings=(rep, rep),
                 donate_argnums=donate_argnums)
