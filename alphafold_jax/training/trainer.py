"""The training loop: state + data-parallel step + checkpoints + logging + evaluation.

    result = train(loss_fn, init_params, batches, config, out_dir='run', resume=True)
    # or, to run / resume several times with one compiled step:
    trainer = Trainer(loss_fn, config); trainer.fit(init_params, batches, out_dir='run')

  loss_fn     per-example loss (train_step.py contract)
  init_params initial params; also the template a checkpoint is restored into
  batches     step -> batch (data.ExampleSampler; exactly resumable) or an iterable; samplers
              with host_batch are fed by loader.Feed (config.loader_workers worker
              processes, this host's rows only); each step logs data_wait_s and
              device_idle_fraction (logging.data_timing)
  out_dir     <out>/checkpoints/ (orbax), <out>/metrics.jsonl, <out>/loss_curve.png,
              <out>/params.npz (AF2 layout, the final EMA params; trainer.weights),
              <out>/eval.json (last eval, of the same weights)
Resuming restores the newest usable checkpoint and continues; with step-keyed batches
the losses equal those of an uninterrupted run bit for bit (tests/training).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

import jax
import numpy as np

from alphafold_jax.common.errors import UserError
from alphafold_jax.training import checkpoints as ckpt_lib
from alphafold_jax.training import loader as loader_lib
from alphafold_jax.training import logging as log_lib
from alphafold_jax.training import sharding as sharding_lib
from alphafold_jax.training.config import TrainConfig
from alphafold_jax.training.evaluation import Evaluator
from alphafold_jax.training.optimizer import make_optimizer
from alphafold_jax.training.state import TrainState, create_train_state
from alphafold_jax.training.train_step import jit_train_step, make_train_step

# Fields that may change between a checkpoint and its resumption (bookkeeping only).
_RESUME_MUTABLE = ('num_steps', 'log_every', 'checkpoint_every', 'keep_checkpoints', 'eval_every',
                   'loader_workers', 'prefetch_depth')


class TrainingDivergedError(FloatingPointError, UserError):
  """The loss or gradient norm became NaN / inf (a user-facing failure: e.g. the learning
  rate; the CLI prints it as one error line)."""


@dataclasses.dataclass
class TrainResult:
  state: TrainState
  losses: Dict[int, float]  # step (1-based, after the update) -> loss of that step's batch
  records: List[Dict[str, Any]]  # train + eval records written during THIS call
  resumed_from: Optional[int]


def _check_resume_config(saved: Mapping[str, Any], config: TrainConfig) -> None:
  current = config.to_dict()
  diffs = {k: (saved[k], current[k]) for k in current
           if k in saved and k not in _RESUME_MUTABLE and saved[k] != current[k]}
  if diffs:
    raise ckpt_lib.CheckpointError(
        'cannot resume: the configuration differs from the checkpoint in '
        + ', '.join(f'{k} (checkpoint {a!r}, now {b!r})' for k, (a, b) in sorted(diffs.items())))


class Trainer:
  """Holds the optimiser, mesh and the compiled step; `fit` may be called repeatedly
  (e.g. run, "kill", resume) without recompiling."""

  def __init__(self, loss_fn: Callable, config: TrainConfig,
               mesh: Optional[jax.sharding.Mesh] = None):
    self.config = config
    self.mesh = mesh if mesh is not None else sharding_lib.make_mesh(config.data_axis)
    sharding_lib.check_batch_size(config.batch_size, self.mesh)
    self.optimizer = make_optimizer(config)
    self.step_fn = jit_train_step(make_train_step(loss_fn, self.optimizer, config), self.mesh,
                                  config.data_axis, donate=True)

  def init_state(self, params: Any) -> TrainState:
    state = create_train_state(params, self.optimizer, jax.random.PRNGKey(self.config.seed))
    return sharding_lib.replicate(state, self.mesh)

  def fit(self, init_params: Any, batches, out_dir: Optional[str | os.PathLike] = None,
          resume: bool = False, evaluator: Optional[Evaluator] = None,
          metadata: Optional[Mapping[str, Any]] = None, progress: bool = True,
          stop_after: Optional[int] = None,
          on_step: Optional[Callable[[int, Dict[str, Any]], None]] = None,
          deadline: Optional[float] = None) -> TrainResult:
    """Trains to config.num_steps total steps (counting steps done before a resume).

    stop_after: abort after this many steps of THIS call as a kill would (no final
    checkpoint, no export) — used to test resumption.
    deadline: a `time.monotonic()` value; the first step that ends past it is the last one,
    then training finishes as if num_steps were reached (final checkpoint, export, curve).
    With several processes, process 0's clock decides for all of them.
    """
    config, mesh = self.config, self.mesh
    is_main = jax.process_index() == 0
    state = self.init_state(init_params)
    checkpointer = logger = None
    meta = {'train_config': config.to_dict(), **dict(metadata or {})}
    if out_dir is not None:
      out_dir = os.fspath(out_dir)
      os.makedirs(out_dir, exist_ok=True)
      checkpointer = ckpt_lib.Checkpointer(os.path.join(out_dir, 'checkpoints'),
                                           save_every=config.checkpoint_every,
                                           keep=config.keep_checkpoints)
      logger = log_lib.MetricsLogger(os.path.join(out_dir, 'metrics.jsonl'), enabled=is_main)

    resumed_from = None
    if resume:
      if checkpointer is None:
        raise ckpt_lib.CheckpointError('resume=True needs an out_dir')
      if checkpointer.latest_step() is not None:
        state, saved_meta = checkpointer.restore(state)
        _check_resume_config(saved_meta.get('train_config', {}), config)
        resumed_from = int(jax.device_get(state.step))
        if resumed_from > config.num_steps:
          raise ckpt_lib.CheckpointError(
              f'cannot resume: num_steps {config.num_steps} is below step {resumed_from} of the '
              f'newest checkpoint in {checkpointer.directory}')
      else:
        _note(f'resume: no checkpoint in {checkpointer.directory}; starting from step 0')
    start = int(jax.device_get(state.step))
    if logger is not None:
      if resume:
        logger.truncate_after(start)
      elif start == 0 and is_main and os.path.exists(logger.path):
        os.remove(logger.path)  # a fresh run starts a fresh log

    feed = loader_lib.Feed(batches, mesh, config, start)
    bar = log_lib.ProgressBar(config.num_steps, initial=start, enabled=progress and is_main)
    losses: Dict[int, float] = {}
    records: List[Dict[str, Any]] = []
    done_this_call = 0
    try:
      for step in range(start, config.num_steps):
        began = time.perf_counter()
        batch = next(feed)
        waited = time.perf_counter() - began
        state, metrics = self.step_fn(state, batch)
        new_step = step + 1
        metrics = jax.device_get(metrics)  # waits for the step: the wall time below is whole
        metrics.update(log_lib.data_timing(waited, time.perf_counter() - began))
        # skipped bad entries, chains AF2's filters dropped, distillation examples (data.py)
        metrics.update({k: np.float32(v) for k, v in feed.data_metrics(step).items()})
        loss = float(metrics['loss'])
        losses[new_step] = loss
        if not (math.isfinite(loss) and math.isfinite(float(metrics['grad_norm']))):
          raise TrainingDivergedError(f'non-finite loss {loss} / grad norm '
                                      f'{float(metrics["grad_norm"])} at step {new_step}')
        record = None
        if new_step % config.log_every == 0 or new_step == config.num_steps:
          record = (logger.log(new_step, metrics) if logger is not None else
                    {'step': new_step, 'kind': 'train',
                     **{k: float(np.asarray(v)) for k, v in metrics.items()}})
          records.append(record)
        if checkpointer is not None:
          checkpointer.save(state, meta)
        if evaluator is not None and config.eval_every and new_step % config.eval_every == 0:
          records.append(_evaluate(evaluator, state, new_step, logger, out_dir, is_main))
        if on_step is not None:
          on_step(new_step, dict(metrics))
        bar.update(record)
        done_this_call += 1
        if stop_after is not None and done_this_call >= stop_after:
          return TrainResult(state, losses, records, resumed_from)
        if deadline is not None and _past(deadline):
          break
    finally:
      bar.close()
      feed.close()  # stops loader workers

    if checkpointer is not None:
      checkpointer.save(state, meta, force=True)
    if out_dir is not None and is_main:
      ckpt_lib.export_params(weights(state), os.path.join(out_dir, 'params.npz'))
      log_lib.plot_loss_curve(
          log_lib.read_jsonl(logger.path) if os.path.exists(logger.path) else [],
          os.path.join(out_dir, 'loss_curve.png'))
    return TrainResult(state, losses, records, resumed_from)


def weights(state: TrainState) -> Any:
  """The weights a run produces: the EMA of the params (== params when ema_decay is 0)."""
  return state.params if state.ema_params is None else state.ema_params


def train(loss_fn: Callable, init_params: Any, batches, config: TrainConfig,
          mesh: Optional[jax.sharding.Mesh] = None, **fit_kwargs) -> TrainResult:
  """One-shot `Trainer(loss_fn, config, mesh).fit(init_params, batches, **fit_kwargs)`."""
  return Trainer(loss_fn, config, mesh).fit(init_params, batches, **fit_kwargs)


def _note(message: str) -> None:
  """An INFO log line (the CLI prints its own note before training starts)."""
  import logging  # pylint: disable=import-outside-toplevel
  logging.getLogger(__name__).info(message)


def _past(deadline: float) -> bool:
  """Whether time.monotonic() is past `deadline` on process 0 (the same answer everywhere)."""
  past = time.monotonic() > deadline
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
    past = bool(multihost_utils.broadcast_one_to_all(np.asarray(past)))
  return past


def _evaluate(evaluator: Evaluator, state: TrainState, step: int,
              logger: Optional[log_lib.MetricsLogger], out_dir: Optional[str], is_main: bool
              ) -> Dict[str, Any]:
  means, rows = evaluator(weights(state))
  record = (logger.log(step, means, kind='eval') if logger is not None
            else {'step': step, 'kind': 'eval', **means})
  if out_dir is not None and is_main:
    with open(os.path.join(out_dir, 'eval.json'), 'w') as f:
      json.dump({'step': step, 'mean': means, 'structures': rows}, f, indent=1)
  return record
