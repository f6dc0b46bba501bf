"""`alphafold-jax evaluate --pred DIR --ref DIR`: score predictions against references.

    alphafold-jax evaluate --pred predictions/ --ref references/ [--json] [--out scores.json]
                           [--align auto|index|sequence]

Pairs files by name: a reference REF/NAME.{pdb,cif,mmcif,ent}[.gz] is scored against
PRED/NAME.* (case-insensitive; .pdb preferred when both exist), so the files written by
`alphafold-jax predict` (NAME.pdb, plus NAME.sample_K.* which have no reference and are
ignored) pair with references named after the FASTA records. Per target: CA-RMSD, lDDT-Ca,
TM-score and GDT-TS (and GDT-HA), computed by `metrics.scoring.score_proteins` (first protein chain of
each file; TM-score/GDT normalised by the reference length). Prints a table (or JSON with
--json) with the mean over targets; --out also writes the JSON. References without a
prediction are listed as missing; a target that cannot be scored is reported with its error
and makes the exit code 1; no pair at all is an input error (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional

from alphafold_jax.inference.evaluate import EvaluateError, evaluate_dirs, format_table  # noqa: F401


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--pred', required=True, metavar='DIR', help='directory of predictions')
  parser.add_argument('--ref', required=True, metavar='DIR', help='directory of references')
  parser.add_argument('--align', choices=('auto', 'index', 'sequence'), default='auto',
                      help='residue correspondence, as in `score` (default: auto)')
  parser.add_argument('--json', action='store_true', help='print JSON instead of the table')
  parser.add_argument('--out', default=None, metavar='FILE.json', help='also write the JSON here')


def register(subparsers) -> argparse.ArgumentParser:
  """Adds `evaluate` to an argparse subparsers object; sets func=run."""
  parser = subparsers.add_parser(
      'evaluate', help='score a directory of predictions against references',
      description=__doc__.split('\n\n')[0])
  add_arguments(parser)
  parser.set_defaults(func=run)
  return parser


def run(args: argparse.Namespace) -> int:
  """Executes `evaluate`; 0 when every pair was scored, 1 when some failed."""
  if args.out:  # checked before any scoring
    parent = os.path.dirname(os.path.abspath(args.out))
    if os.path.isdir(args.out) or not os.path.isdir(parent) or not os.access(parent, os.W_OK):
      raise EvaluateError(f'--out {args.out}: cannot write a file there (a directory, or its '
                          'directory is missing or not writable)')
  report = evaluate_dirs(args.pred, args.ref, args.align)
  from alphafold_jax.inference.outputs import json_safe  # pylint: disable=import-outside-toplevel
  text = json.dumps(json_safe(report), indent=1, allow_nan=False)
  if args.out:
    with open(args.out, 'w', encoding='utf-8') as f:
      f.write(text + '\n')
  print(text if args.json else format_table(report))
  return 1 if report['num_failed'] else 0


def main(argv: Optional[list] = None) -> int:
  """Standalone entry (python -m alphafold_jax.cli.evaluate)."""
  from alphafold_jax import cli  # pylint: disable=import-outside-toplevel
  return cli.main(['evaluate', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
  sys.exit(main())
