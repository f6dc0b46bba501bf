"""Model parameters for inference: an AF2 .npz, a training checkpoint, or the bundled weights.

  params, source = load_params(config, params_path=None, checkpoint=None)

Exactly one source is used:
  params_path   an AF2-layout .npz (`alphafold_jax.params`), e.g. DeepMind's
                params_model_1_ptm.npz or one exported by `alphafold-jax train`;
  checkpoint    an orbax checkpoint directory of `alphafold_jax.training.checkpoints`
                (a run directory holding checkpoints/, or the checkpoints directory itself);
                the newest finalised step whose restore succeeds is used;
  neither       the weights shipped with the package, `alphafold_jax/weights/<preset>.npz`.
Whatever the source, the parameter tree must match the model built from `config`
exactly (shapes from `jax.eval_shape` of the model's init, nothing is computed); a mismatch,
e.g. params of another preset, raises `ParamsError` naming every missing, extra or
mis-shaped entry.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import os
import pathlib
from typing import Any, List, Mapping, Optional, Tuple

import jax
import numpy as np

from alphafold_jax import params as params_lib
from alphafold_jax.params import ParamsError

_FINALIZED_FILE = '_CHECKPOINT_METADATA'  # orbax writes it last (see training/checkpoints.py)
_SHAPE_PROBE_SEQUENCE = 'ACDEFGHIK'  # any sequence: parameter shapes do not depend on length


def weights_dir() -> pathlib.Path:
  """The package-data directory of bundled weights (may not exist)."""
  return pathlib.Path(str(importlib.resources.files('alphafold_jax'))) / 'weights'


def bundled_presets() -> List[str]:
  """Presets with a bundled `weights/<preset>.npz`, sorted."""
  directory = weights_dir()
  if not directory.is_dir():
    return []
  return sorted(p.stem for p in directory.glob('*.npz'))


def bundled_weights_path(preset: str) -> pathlib.Path:
  """Path of the bundled weights of `preset`; ParamsError (naming the fixes) when absent."""
  path = weights_dir() / f'{preset}.npz'
  if not path.is_file():
    have = bundled_presets()
    raise ParamsError(
        f'no bundled weights for preset {preset!r} (looked for {path}); bundled presets: '
        f'{", ".join(have) if have else "none"}. Pass --params FILE.npz or --checkpoint DIR.')
  return path


def default_preset(preferred: str = 'model_1_ptm') -> str:
  """`preferred` if it has bundled weights, else the only bundled all-atom preset (one of
  `config.PRESETS`; backbone diffusion presets are never the default), else an error."""
  from alphafold_jax.config import PRESETS  # pylint: disable=import-outside-toplevel
  have = [name for name in bundled_presets() if name in PRESETS]
  if preferred in have or not have:
    return preferred
  if len(have) == 1:
    return have[0]
  raise ParamsError(f'several bundled weights ({", ".join(have)}); choose one with --preset')


@functools.lru_cache(maxsize=8)
def expected_param_shapes(config) -> Mapping[str, Mapping[str, Any]]:
  """{scope: {name: ShapeDtypeStruct}} of the model built from `config` (no compute; cached
  per config, which is a frozen dataclass: repeated runs in one process trace it once)."""
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.model import RunModel
  from alphafold_jax.model.run_model import model_inputs
  from data_pipeline import make_raw_features, process_features
  raw = make_raw_features(_SHAPE_PROBE_SEQUENCE, 'shape probe', None)
  data = dataclasses.replace(config.data, num_res=len(_SHAPE_PROBE_SEQUENCE))
  batch = model_inputs(process_features(raw, data, 0))
  runner = RunModel(config)
  return jax.eval_shape(lambda: runner.transformed.init(jax.random.PRNGKey(0), batch, False))


def _checkpoint_root(directory: str) -> str:
  directory = os.fspath(directory)
  if os.path.isfile(directory):
    raise ParamsError(f'--checkpoint {directory} is a file; expected a training run directory '
                      '(for an .npz parameter file use --params)')
  if not os.path.isdir(directory):
    raise ParamsError(f'checkpoint directory not found: {directory}')
  nested = os.path.join(directory, 'checkpoints')
  # absolute: orbax refuses relative checkpoint paths (`--checkpoint runs/x` must work)
  return os.path.abspath(nested if os.path.isdir(nested) else directory)


def _finalised_steps(root: str) -> List[int]:
  return sorted((int(n) for n in os.listdir(root)
                 if n.isdigit() and os.path.isfile(os.path.join(root, n, _FINALIZED_FILE))),
                reverse=True)


def restorable_steps(directory: str) -> List[int]:
  """Finalised checkpoint steps under `directory`, newest first; ParamsError when none."""
  root = _checkpoint_root(directory)
  try:
    steps = _finalised_steps(root)
  except OSError as e:
    raise ParamsError(f'cannot read checkpoint directory {root}: {e.strerror or e}') from None
  if not steps:
    raise ParamsError(f'no finalised checkpoint in {root} (expected <step>/ directories '
                      'written by alphafold-jax train)')
  return steps


def restore_checkpoint_params(directory: str) -> Tuple[dict, dict]:
  """(params as NumPy {scope: {name: array}}, metadata) of the newest usable checkpoint.

  Read-only: unlike the training `Checkpointer`, nothing in the directory is moved.
  """
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  root = _checkpoint_root(directory)
  steps = restorable_steps(directory)
  problems = []
  for step in steps:
    path = os.path.join(root, str(step))
    try:
      with ocp.CheckpointManager(root, options=ocp.CheckpointManagerOptions(
          create=False, read_only=True)) as manager:
        out = manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()))
    except Exception as e:  # pylint: disable=broad-except  (orbax raises many types)
      problems.append(f'{path}: {type(e).__name__}: {e}')
      continue
    state = out['state']
    params = state.get('params') if isinstance(state, Mapping) else None
    if not isinstance(params, Mapping):
      problems.append(f'{path}: no params in the saved state')
      continue
    params = jax.tree.map(np.asarray, dict(params))
    meta = dict(out['meta'] or {})
    meta['step'] = step
    return {scope: dict(leaves) for scope, leaves in params.items()}, meta
  raise ParamsError(f'no usable checkpoint in {root}: ' + '; '.join(p[:200] for p in problems))


def checkpoint_preset(directory: str) -> Optional[str]:
  """The preset recorded in the newest checkpoint's metadata (None when absent)."""
  root = _checkpoint_root(directory)
  for step in _finalised_steps(root):
    for meta_file in ('meta/metadata', 'meta/meta.json'):
      path = os.path.join(root, str(step), meta_file)
      if os.path.isfile(path):
        try:
          with open(path, encoding='utf-8') as f:
            preset = json.load(f).get('preset')
        except (OSError, ValueError, AttributeError):
          continue
        return preset if isinstance(preset, str) else None
  return None


def load_params(config, params_path: Optional[str] = None, checkpoint: Optional[str] = None,
                expected: Optional[Mapping[str, Mapping[str, Any]]] = None,
                preset: Optional[str] = None) -> Tuple[dict, str]:
  """(params checked against `config`'s model, description of where they came from).

  The file is read before the model's shapes are traced, so an unreadable file fails fast.
  `expected`: precomputed `expected_param_shapes(config)` (traced here when None; required for
  configs that are not a `ModelConfig`). `preset`: name of the bundled weights (default
  `config.name`).
  """
  if params_path is not None and checkpoint is not None:
    raise ParamsError('give either --params or --checkpoint, not both')
  if checkpoint is not None:
    params, meta = restore_checkpoint_params(checkpoint)
    source = f'checkpoint {checkpoint} (step {meta["step"]})'
  else:
    path = (params_path if params_path is not None
            else bundled_weights_path(preset if preset is not None else config.name))
    source = f'{"parameter file" if params_path is not None else "bundled weights"} {path}'
    params = params_lib.load_alphafold_params(path)
  expected = expected_param_shapes(config) if expected is None else expected
  params_lib.check_params(params, expected, source=source)
  return params, source
