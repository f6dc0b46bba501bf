"""The `alphafold-jax` command line (console script -> `main`).

    alphafold-jax score MODEL REFERENCE [--json]      compare two structures
    alphafold-jax predict / train / evaluate ...      (cli/predict.py, train.py, evaluate.py)

Adding a subcommand is one line in `SUBCOMMANDS`: (name, module). The module
provides `register(subparsers)`, which adds its parser and sets `func=run` with
`run(args) -> int`. Modules are imported only to build the parser; a subcommand
whose module fails to import is still listed and reports the import error when
used, so one broken subcommand never breaks the others.

Errors: input problems (any ValueError, e.g. StructureError, and OSError) print one
line `alphafold-jax <command>: error: <message>` on stderr and exit with code 2,
the same code argparse uses for usage errors. No tracebacks for user errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

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


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Runs the CLI; returns the exit code (0 ok, 2 bad input or usage)."""
  parser = build_parser()
  try:
    args = parser.parse_args(argv)
  except SystemExit as e:  # argparse already printed usage / help
    return int(e.code or 0)
  try:
    return int(args.func(args) or 0)
  except (ValueError, OSError, SubcommandUnavailable) as e:
    message = ' '.join(str(e).split()) or type(e).__name__
    print(f'{PROG} {args.command}: error: {message}', file=sys.stderr)
    return EXIT_USAGE
  except KeyboardInterrupt:
    print(f'{PROG} {args.command}: interrupted', file=sys.stderr)
    return 130


if __name__ == '__main__':
  sys.exit(main())
