"""The --out directory of a prediction run: checked before any work, filled target by target.

    with OutputDir('predictions') as sink:     # checks --out, cleans stale staging dirs
      staging = sink.stage('crambin')          # an empty directory for one target's files
      ...write the files into staging...
      sink.commit('crambin')                   # renames them into --out (each atomically)
      sink.discard('other')                    # a failed target: its files are dropped
      sink.write_json('summary.json', data)    # atomically (staged, then renamed)

Rules (issue 23: nothing lost, nothing partial):
  * Before any work (`__enter__`): --out must be a directory or creatable; a probe file is
    created and removed in it and the staging directory `.{out}.tmp-{pid}-{random}` is created
    next to it, so an unwritable output fails at once with `OutputError` naming --out.
  * Staging directories of killed runs into the same --out (`.{out}.tmp-*` whose process is
    gone, or without a process id) are deleted first.
  * A finished target is renamed into --out right away: a later failure, an interrupt or a
    kill never loses it, and a killed run leaves only its staging directory (cleaned by the
    next run). File names are checked unique before any work (`check_unique_names`).
  * On leaving the block (success, error, interrupt) the staging directory is removed; an --out
    created by this run that received no file is removed too.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence

from alphafold_jax.common.errors import UserError


class OutputError(UserError):
  """The output directory cannot be used, or two outputs would get the same file name."""


_PID_STAGING = re.compile(r'\.tmp-(\d+)-[^/]+$')


def _process_alive(pid: int) -> bool:
  if pid == os.getpid():
    return True
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except OSError:  # e.g. PermissionError: it exists, owned by someone else
    return True
  return True


def stale_staging_dirs(out_dir: str) -> List[str]:
  """Staging directories `.{out}.tmp-*` next to `out_dir` left by runs no longer alive."""
  parent, base = os.path.split(os.path.abspath(out_dir))
  prefix = f'.{base}.tmp-'
  try:
    names = os.listdir(parent)
  except OSError:
    return []
  stale = []
  for name in names:
    path = os.path.join(parent, name)
    if not name.startswith(prefix) or not os.path.isdir(path) or os.path.islink(path):
      continue
    match = _PID_STAGING.search(name[len(prefix) - len('.tmp-'):])
    if match is None or not _process_alive(int(match.group(1))):
      stale.append(path)
  return sorted(stale)


def check_unique_names(files_by_owner: Dict[str, Iterable[str]], what: str = 'target') -> None:
  """OutputError if two owners (e.g. targets) would write the same file (case-insensitive, as
  on macOS/Windows file systems)."""
  claimed: Dict[str, str] = {}
  for owner, files in files_by_owner.items():
    for name in files:
      other = claimed.setdefault(name.lower(), owner)
      if other != owner:
        raise OutputError(f'{what}s {other!r} and {owner!r} would both write {name}; rename one '
                          '(the first word of its FASTA header)')


class OutputDir:
  """See the module docstring."""

  def __init__(self, out_dir: str, flag: str = '--out'):
    self.out_dir = os.path.abspath(os.fspath(out_dir))
    self.flag = flag
    self.staging: Optional[str] = None
    self.committed: List[str] = []
    self._created: Optional[str] = None  # top-most directory this run created
    self._stages: Dict[str, str] = {}

  def _fail(self, problem: str) -> OutputError:
    return OutputError(f'{self.flag} {self.out_dir}: {problem}')

  def __enter__(self) -> 'OutputDir':
    self._prepare()
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def _prepare(self) -> None:
    out = self.out_dir
    if os.path.exists(out) and not os.path.isdir(out):
      raise self._fail('exists and is not a directory')
    if not os.path.isdir(out):
      anchor = out
      while not os.path.exists(anchor):
        anchor = os.path.dirname(anchor)
      if not os.path.isdir(anchor):
        raise self._fail(f'{anchor} is a file, not a directory')
      top = out
      while os.path.dirname(top) != anchor:
        top = os.path.dirname(top)
      try:
        os.makedirs(out)
      except OSError as e:
        raise self._fail(f'cannot create it ({e.strerror or e})') from None
      self._created = top
    try:
      try:
        fd, probe = tempfile.mkstemp(prefix='.write-probe-', dir=out)
        os.close(fd)
        os.remove(probe)
      except OSError as e:
        raise self._fail(f'not writable ({e.strerror or e})') from None
      for path in stale_staging_dirs(out):
        shutil.rmtree(path, ignore_errors=True)
      parent, base = os.path.split(out)
      try:
        self.staging = tempfile.mkdtemp(prefix=f'.{base}.tmp-{os.getpid()}-', dir=parent)
      except OSError as e:
        raise self._fail(f'cannot create a temporary directory in {parent} '
                         f'({e.strerror or e})') from None
    except BaseException:
      self.close()
      raise

  def stage(self, key: str) -> str:
    """An empty staging directory for one unit of output (e.g. a target)."""
    self.discard(key)
    path = os.path.join(self.staging, f'unit-{len(self._stages)}')
    os.makedirs(path)
    self._stages[key] = path
    return path

  def commit(self, key: str) -> List[str]:
    """Renames the staged files of `key` into --out; returns their names. A staged folder
    whose name already exists in --out (e.g. AF2's OUT/<target>/ holding msas/) is merged
    into it, file by file."""
    path = self._stages.pop(key)
    names = sorted(os.listdir(path))
    for name in names:
      _move_into(os.path.join(path, name), os.path.join(self.out_dir, name))
      self.committed.append(name)
    shutil.rmtree(path, ignore_errors=True)
    return names

  def discard(self, key: str) -> None:
    path = self._stages.pop(key, None)
    if path is not None:
      shutil.rmtree(path, ignore_errors=True)

  def write_json(self, name: str, data: dict) -> None:
    """`outputs.write_json` into --out via the staging directory (atomic rename)."""
    from alphafold_jax.inference import outputs  # pylint: disable=import-outside-toplevel
    staging = self.stage(f'json:{name}')
    outputs.write_json(os.path.join(staging, name), data)
    self.commit(f'json:{name}')

  def close(self) -> None:
    if self.staging is not None:
      shutil.rmtree(self.staging, ignore_errors=True)
      self.staging = None
    self._stages.clear()
    if self._created is not None and not self.committed:
      shutil.rmtree(self._created, ignore_errors=True)  # nothing written: leave no trace
      self._created = None


def _move_into(src: str, dst: str) -> None:
  """os.replace, merging a folder into an existing folder of the same name."""
  if os.path.isdir(src) and os.path.isdir(dst):
    for name in sorted(os.listdir(src)):
      _move_into(os.path.join(src, name), os.path.join(dst, name))
    os.rmdir(src)
  else:
    os.replace(src, dst)


def planned_files(name: str, num_samples: int) -> Sequence[str]:
  """Every file name `outputs.write_target` may write for target `name` (plots included)."""
  stems = [name] + ([f'{name}.sample_{k}' for k in range(num_samples)] if num_samples > 1 else [])
  files = [f'{stem}{suffix}' for stem in stems for suffix in ('.pdb', '.cif', '.confidence.json')]
  relaxed = [f'relaxed_{stem}.pdb' for stem in stems]  # --relax (relax/cli_support.py)
  return files + relaxed + [f'{name}.ranking.json', f'{name}.plddt.png', f'{name}.pae.png']
