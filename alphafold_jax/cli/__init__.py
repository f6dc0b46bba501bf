"""The `alphafold-jax` command line (console script -> `main`).

    alphafold-jax score MODEL REFERENCE [--json]      compare two structures
    alphafold-jax predict / train / evaluate ...      (cli/predict.py, train.py, evaluate.py)

Adding a subcommand is one line in `SUBCOMMANDS`: (name, module). The module
provides `register(subparsers)`, which adds its parser and sets `func=run` with
`run(args) -> int`. Modules are imported only to build the parser; a subcommand
whose module fails to import is still listed and reports the import error when
used, so one broken subcommand never breaks the others.

Errors: user-fixable problems (`common.errors.UserError` and the other ValueErrors raised on
input, e.g. StructureError, ParamsError, and OSError) print ONE line
`alphafold-jax <command>: error: <message>` on stderr and exit with code 2, the same code
argparse uses for usage errors. Any other exception is a bug: one line
`alphafold-jax <command>: internal error: <type>: <message>` (exit code 1; set
ALPHAFOLD_JAX_TRACEBACK=1 to see the traceback). A command that finished with some failed
parts (e.g. one target of `predict`) returns 1 itself.

Signals: SIGTERM is handled like SIGINT (Ctrl-C): a `Terminated` (a KeyboardInterrupt) is
raised in the main thread, so every command's cleanup runs (predict removes its temporary
directory, train keeps its last finished checkpoint); exit code 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import traceback
from typing import Optional, Sequence

from alphafold_jax.common.errors import UserError, one_line

PROG = 'alphafold-jax'

# (subcommand, module with register(subparsers)); order = order in --help.
SUBCOMMANDS: tuple[tuple[str, str], ...] = (
    ('score', 'alphafold_jax.cli.score'),
    ('predict', 'alphafold_jax.cli.predict'),
    ('train', 'alphafold_jax.cli.train'),
    ('evaluate', 'alphafold_jax.cli.evaluate'),
    ('features', 'alphafold_jax.cli.features'),
)

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(KeyboardInterrupt):
  """Raised in the main thread when the process receives SIGTERM."""


class SubcommandUnavailable(RuntimeError):
  """A subcommand's module could not be imported."""


def _register_unavailable(subparsers, name: str, problem: str) -> None:
  parser = subparsers.add_parser(name, help=f'(unavailable: {problem})', add_help=False)
  parser.add_argument('rest', nargs=argparse.REMAINDER)

  def run(_args) -> int:
    raise SubcommandUnavailable(f'the {name!r} subcommand is unavailable: {problem}')
  parser.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog=PROG, description='AlphaFold2 in JAX: structure prediction, training and scoring.')
  subparsers = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
  for name, module_name in SUBCOMMANDS:
    try:
      module = importlib.import_module(module_name)
    except Exception as e:  # pylint: disable=broad-except
      _register_unavailable(subparsers, name, f'{type(e).__name__}: {e}')
      continue
    module.register(subparsers)
  return parser


def _raise_terminated(signum, frame):  # pylint: disable=unused-argument
  raise Terminated(f'signal {signum}')


@contextlib.contextmanager
def sigterm_as_interrupt():
  """Within the block, SIGTERM raises `Terminated` (main thread only; restored afterwards)."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  previous = signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Runs the CLI; returns the exit code (0 ok, 1 partly failed or internal error, 2 bad
  input or usage, 130/143 interrupted by SIGINT/SIGTERM)."""
  parser = build_parser()
  try:
    args = parser.parse_args(argv)
  except SystemExit as e:  # argparse already printed usage / help
    return int(e.code or 0)
  with sigterm_as_interrupt():
    try:
      return int(args.func(args) or 0)
    except (UserError, ValueError, OSError, SubcommandUnavailable) as e:
      message = one_line(e) or type(e).__name__
      print(f'{PROG} {args.command}: error: {message}', file=sys.stderr)
      return EXIT_USAGE
    except Terminated:
      print(f'{PROG} {args.command}: terminated (SIGTERM)', file=sys.stderr)
      return EXIT_SIGTERM
    except KeyboardInterrupt:
      print(f'{PROG} {args.command}: interrupted', file=sys.stderr)
      return EXIT_SIGINT
    except Exception as e:  # pylint: disable=broad-except  (a bug: still one line, no trace)
      if os.environ.get('ALPHAFOLD_JAX_TRACEBACK'):
        traceback.print_exc()
      message = one_line(e)[:300]
      print(f'{PROG} {args.command}: internal error: {type(e).__name__}: {message} '
            '(a bug; set ALPHAFOLD_JAX_TRACEBACK=1 for the traceback)', file=sys.stderr)
      return EXIT_FAILED


if __name__ == '__main__':
  sys.exit(main())
