"""Checkpoints with orbax-checkpoint: periodic, atomic, exactly resumable; AF2 npz export.

Layout (one orbax CheckpointManager directory):
  <dir>/<step>/state   the full TrainState (params, opt_state, step, rng)
  <dir>/<step>/meta    JSON: TrainConfig, preset name, anything the caller adds
Atomicity: orbax writes into `<step>.orbax-checkpoint-tmp-*` and renames it to `<step>`
only when complete, so a kill mid-write leaves the previous checkpoints intact (the
temporary directory is ignored). As a second line of defence, a `<step>` directory
that lacks orbax's finalisation file or fails to restore is renamed to
`<step>.incomplete[-n]` and the next older checkpoint is used.

Exact resume: the state holds everything that evolves (including the PRNG key and the
optax counters); restored arrays get the dtype, shape and sharding of a template state.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Optional, Tuple

import jax
import orbax.checkpoint as ocp

from alphafold_jax.common.errors import UserError
from alphafold_jax import params as params_lib
from alphafold_jax.training.state import TrainState

_FINALIZED_FILE = '_CHECKPOINT_METADATA'

log = logging.getLogger(__name__)


class CheckpointError(UserError):
  """No usable checkpoint, or a checkpoint does not fit the model."""


class Checkpointer:
  """Periodic, atomic saving and fault-tolerant restoring of a TrainState."""

  def __init__(self, directory: str | os.PathLike, save_every: int = 100, keep: int = 3):
    self.directory = os.path.abspath(os.fspath(directory))
    self.save_every = int(save_every)
    os.makedirs(self.directory, exist_ok=True)
    self._quarantine_unfinished()
    options = ocp.CheckpointManagerOptions(max_to_keep=int(keep), create=True,
                                           enable_async_checkpointing=False)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  # -- bookkeeping ---------------------------------------------------------------------------

  def _quarantine_unfinished(self) -> None:
    """Renames `<step>` dirs without orbax's finalisation file out of orbax's sight."""
    if jax.process_index() != 0:
      return
    for name in sorted(os.listdir(self.directory)):
      path = os.path.join(self.directory, name)
      if name.isdigit() and os.path.isdir(path) and not os.path.exists(
          os.path.join(path, _FINALIZED_FILE)):
        self._move_aside(int(name), reason='not finalised')

  def _move_aside(self, step: int, reason: str) -> None:
    src = os.path.join(self.directory, str(step))
    dst, n = f'{src}.incomplete', 0
    while os.path.exists(dst):
      n += 1
      dst = f'{src}.incomplete-{n}'
    log.warning('checkpoint %s is unusable (%s); moved to %s', src, reason, dst)
    os.rename(src, dst)

  def all_steps(self) -> list[int]:
    self._manager.reload()
    return sorted(self._manager.all_steps())

  def latest_step(self) -> Optional[int]:
    steps = self.all_steps()
    return steps[-1] if steps else None

  # -- save / restore -----------------------------------------------------------------------

  def should_save(self, step: int) -> bool:
    return self.save_every > 0 and step > 0 and step % self.save_every == 0

  def save(self, state: TrainState, metadata: Optional[Mapping[str, Any]] = None,
           force: bool = False) -> bool:
    """Saves `state` under its step if periodic (or force). Blocks until committed."""
    step = int(jax.device_get(state.step))
    if not (force or self.should_save(step)):
      return False
    if step in self.all_steps():
      return False
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(dict(metadata or {}))),
        force=True)
    self._manager.wait_until_finished()
    return True

  def restore(self, template: TrainState, step: Optional[int] = None
              ) -> Tuple[TrainState, dict]:
    """Restores the latest usable checkpoint (or `step`) into the layout of `template`.

    Unusable newer checkpoints are moved aside. Raises CheckpointError if none is usable.
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    steps = [step] if step is not None else list(reversed(self.all_steps()))
    if not steps:
      raise CheckpointError(f'no checkpoint in {self.directory}')
    errors = []
    for s in steps:
      try:
        out = self._manager.restore(s, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
      except Exception as e:  # pylint: disable=broad-except  (orbax raises many types)
        errors.append(f'step {s}: {type(e).__name__}: {e}')
        if step is None and jax.process_index() == 0:
          self._move_aside(s, reason=f'{type(e).__name__}')
          self._manager.reload()
        continue
      state = TrainState(*out['state'])
      if int(jax.device_get(state.step)) != s:
        raise CheckpointError(f'checkpoint {s} holds step {int(state.step)}')
      return state, dict(out['meta'] or {})
    raise CheckpointError(f'no usable checkpoint in {self.directory}:\n  ' + '\n  '.join(errors))

  def close(self) -> None:
    self._manager.close()


def export_params(params: Any, path: str | os.PathLike) -> None:
  """Writes params in AF2's flat `scope//name` .npz layout (loadable by the model)."""
  params = jax.device_get(params)
  params_lib.save_alphafold_params(params, path)


def load_init_params(path: str | os.PathLike, template: Any) -> Any:
  """Params from an AF2-layout .npz (e.g. DeepMind's weights, or a run's params.npz) to start
  training from (`alphafold-jax train --init-params`): the file must hold exactly the
  `template` tree (the preset's init params; ParamsError lists every mismatch); leaves get the
  template's dtypes."""
  template = jax.device_get(template)
  loaded = params_lib.load_alphafold_params(path, expected=template)
  return jax.tree.map(lambda x, t: jax.numpy.asarray(x, dtype=t.dtype), loaded, template)
