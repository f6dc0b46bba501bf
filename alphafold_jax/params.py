"""AlphaFold2 parameter files: DeepMind's flat `scope//name` .npz layout <-> Haiku params.

An official file (`params_model_1_ptm.npz`) maps keys such as
  'alphafold/alphafold_iteration/evoformer/preprocess_1d//weights'
to arrays. Haiku keeps the same information as {scope: {name: array}}. Our module names follow
AF2 v2.3 monomer, so the conversion is a pure re-keying; `check_params` compares a loaded tree
with the tree a model expects and names every missing, extra or mis-shaped entry, and every
value must be a finite floating-point number (an int32 or all-NaN file is refused, naming the
entry). A path that is not an .npz archive (a directory, a .npy array, a text file) gets a
message saying what it is.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from typing import Any, Mapping, Optional

import numpy as np

from alphafold_jax.common.errors import UserError

Params = Mapping[str, Mapping[str, Any]]

_SEP = '//'


class ParamsError(UserError):
  """A parameter file is unreadable or does not fit the model."""


def flatten_params(params: Params) -> dict[str, np.ndarray]:
  """{scope: {name: array}} -> {'scope//name': np.ndarray}."""
  flat = {}
  for scope, leaves in params.items():
    for name, value in leaves.items():
      array = np.asarray(value)
      if array.dtype == object:
        raise ParamsError(f'parameter {scope}{_SEP}{name} is not a numeric array')
      flat[f'{scope}{_SEP}{name}'] = array
  return flat


def unflatten_params(flat: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
  """{'scope//name': array} -> {scope: {name: array}}."""
  params: dict[str, dict[str, np.ndarray]] = {}
  for key, value in flat.items():
    scope, sep, name = key.rpartition(_SEP)
    if not sep or not scope or not name:
      raise ParamsError(f"parameter key {key!r} is not of the form 'scope//name'")
    params.setdefault(scope, {})[name] = value
  return params


def load_alphafold_params(path: str | os.PathLike, expected: Optional[Params] = None
                          ) -> dict[str, dict[str, np.ndarray]]:
  """Reads an AF2 `.npz` parameter file into a Haiku params tree (NumPy leaves).

  If `expected` (a params tree, or shapes from `jax.eval_shape` of the model's init) is
  given, the loaded tree must match it exactly, else a ParamsError lists every problem.
  """
  path = os.fspath(path)
  _check_npz_file(path)
  try:
    with np.load(path, allow_pickle=False) as data:
      flat = {key: np.asarray(data[key]) for key in data.files}
  except Exception as e:  # pylint: disable=broad-except  (zip/zlib/format errors of a bad file)
    detail = ' '.join(str(e).split())[:160] or type(e).__name__
    raise ParamsError(f'cannot read parameter file {path}: {type(e).__name__}: {detail}') from None
  if not flat:
    raise ParamsError(f'parameter file {path} holds no arrays')
  params = unflatten_params(flat)
  if expected is not None:
    check_params(params, expected, source=path)
  return params


_NPZ_MAGIC = b'PK\x03\x04'  # .npz = zip archive
_NPY_MAGIC = b'\x93NUMPY'


def _check_npz_file(path: str) -> None:
  """ParamsError unless `path` is a regular file that starts like a zip (.npz) archive."""
  if os.path.isdir(path):
    raise ParamsError(f'parameter file {path} is a directory, not an .npz file '
                      '(for a training run directory use --checkpoint)')
  if not os.path.exists(path):
    raise ParamsError(f'parameter file not found: {path}')
  try:
    with open(path, 'rb') as f:
      head = f.read(8)
  except OSError as e:
    raise ParamsError(f'cannot read parameter file {path}: {e.strerror or e}') from None
  if head.startswith(_NPY_MAGIC):
    raise ParamsError(f'parameter file {path} is a single .npy array, not an .npz archive of '
                      "named arrays ('scope//name'); save it with numpy.savez")
  if not head.startswith(_NPZ_MAGIC):
    kind = 'empty' if not head else 'not an .npz (zip) archive'
    raise ParamsError(f'parameter file {path} is {kind}; expected an AF2 .npz parameter file')


def check_param_values(params: Params, source: str = 'params') -> None:
  """ParamsError unless every leaf is a floating-point array of finite numbers."""
  for key, value in flatten_params(params).items():
    if value.dtype.kind != 'f' and value.dtype.name != 'bfloat16':
      raise ParamsError(f'{source}: parameter {key} has dtype {value.dtype}; parameters must be '
                        'floating point')
    finite = np.isfinite(value.astype(np.float32) if value.dtype.name == 'bfloat16' else value)
    if not finite.all():
      raise ParamsError(f'{source}: parameter {key} holds {int(finite.size - finite.sum())} '
                        f'non-finite value(s) (NaN or inf) of {finite.size}')


def save_alphafold_params(params: Params, path: str | os.PathLike) -> None:
  """Writes a Haiku params tree as an AF2 `.npz` (atomically: temp file + rename)."""
  path = os.fspath(path)
  flat = flatten_params(params)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(suffix='.npz', dir=directory)
  try:
    with os.fdopen(fd, 'wb') as f:
      np.savez(f, **flat)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; parameter files are meant to be shared
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def check_params(params: Params, expected: Params, source: str = 'params') -> None:
  """Raises ParamsError naming every missing, extra or mis-shaped entry, or a non-float /
  non-finite value (`check_param_values`)."""
  have = {k: tuple(np.shape(v)) for k, v in flatten_params(params).items()}
  want = {f'{s}{_SEP}{n}': tuple(getattr(v, 'shape', np.shape(v)))
          for s, leaves in expected.items() for n, v in leaves.items()}
  missing = sorted(set(want) - set(have))
  extra = sorted(set(have) - set(want))
  misshaped = sorted(k for k in set(want) & set(have) if want[k] != have[k])
  if not (missing or extra or misshaped):
    check_param_values(params, source)
    return
  lines = [f'{source} does not match the model:']
  lines += [f'  missing: {k} (expected shape {want[k]})' for k in missing]
  lines += [f'  extra: {k} (shape {have[k]})' for k in extra]
  lines += [f'  wrong shape: {k} has {have[k]}, expected {want[k]}' for k in misshaped]
  raise ParamsError('\n'.join(lines))
