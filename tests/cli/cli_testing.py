"""Helpers of the bad-input tests (issue 23).

`cli_run(argv)` runs `alphafold_jax.cli.main` in-process and returns (code, stdout, stderr);
`assert_one_error_line` checks the documented failure shape: exit code, exactly one
`alphafold-jax CMD: error:` line naming what it must name, and no traceback / internal error.
"""

import contextlib
import io
import os
import pathlib

from alphafold_jax import cli

DATA = pathlib.Path(__file__).resolve().parents[1] / 'data'
NANO = DATA / 'structures' / 'nano'
SEQ_SHORT = 'MKTAYIAKQRQISF'  # 14 residues: bucket 16
SEQ_LONG = 'ACDEFGHIKLMNPQRSTVWY' * 10  # 200 residues: beyond --buckets 16 -> padded to 512


def cli_run(argv, env=None):
  """(exit code, stdout, stderr) of an in-process CLI call; exceptions escape (= traceback)."""
  out, err = io.StringIO(), io.StringIO()
  saved = {k: os.environ.get(k) for k in (env or {})}
  os.environ.update(env or {})
  try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      code = cli.main([str(a) for a in argv])
  finally:
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v
  return code, out.getvalue(), err.getvalue()


def assert_one_error_line(result, command, *must_name, code=2):
  """The documented failure: exit `code`, one `alphafold-jax COMMAND: error:` line naming
  every string of `must_name`, every stderr line from the CLI, no traceback."""
  rc, _, err = result
  lines = [l for l in err.splitlines() if l.strip()]
  errors = [l for l in lines if l.startswith(f'alphafold-jax {command}: error: ')]
  assert rc == code, (rc, err)
  assert len(errors) == 1, err
  assert all(l.startswith(f'alphafold-jax {command}:') for l in lines), err
  assert 'Traceback' not in err and 'internal error' not in err, err
  for name in must_name:
    assert str(name) in errors[0], (name, errors[0])
  return errors[0]


def leftovers(directory):
  """Hidden staging directories `.*.tmp-*` in `directory`."""
  return [n for n in os.listdir(directory) if n.startswith('.') and '.tmp-' in n]
