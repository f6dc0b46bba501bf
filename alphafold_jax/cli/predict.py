"""`alphafold-jax predict`: FASTA (+ MSAs) -> PDB/mmCIF, confidence JSON, plots, ranking.

    alphafold-jax predict INPUT.fasta [--msa [NAME=]FILE.a3m|FILE.sto ...] [--preset NAME]
                          [--params FILE.npz | --checkpoint DIR] [--num-recycle N]
                          [--num-samples K] [--seed S] [--out DIR] [--buckets 64,128,...]

Every FASTA record is a target (output names: first word of the header). Without --params
or --checkpoint the weights bundled with the package for the preset are used (works offline);
without --preset: model_1_ptm if bundled, else the only bundled preset (with --checkpoint:
the preset recorded in the checkpoint). Output files per target: see inference/outputs.py;
plus OUT/summary.json (run settings, per-target scores, compile count).

All inputs are read and checked (sequences, MSA queries, parameter shapes) before any model
work; outputs are written to a temporary directory and moved into OUT only when every target
succeeded, so a bad input gives one error line, exit code 2 and no output files.

Registration: `register(subparsers)` adds the subcommand; `run(args)` executes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from typing import Optional

from alphafold_jax.cli import features as features_cli

log = logging.getLogger('alphafold_jax.inference.predict')


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('fasta', metavar='INPUT.fasta', help='FASTA file, one target per record')
  parser.add_argument('--msa', action='append', default=[], metavar='[NAME=]FILE',
                      help='MSA (.a3m or .sto) for target NAME, or for the target whose '
                           'sequence is its query row; repeatable')
  parser.add_argument('--preset', default=None,
                      help='model preset (model_1..model_5[_ptm], tiny, ...)')
  source = parser.add_mutually_exclusive_group()
  source.add_argument('--params', default=None, metavar='FILE.npz',
                      help='AF2-layout parameter file (default: bundled weights of the preset)')
  source.add_argument('--checkpoint', default=None, metavar='DIR',
                      help='training run or orbax checkpoint directory (newest usable step)')
  parser.add_argument('--num-recycle', type=int, default=None, metavar='N',
                      help='recycling iterations (default: the preset\'s)')
  parser.add_argument('--num-samples', type=int, default=1, metavar='K',
                      help='samples per target with seeds S..S+K-1, ranked by mean pLDDT')
  parser.add_argument('--seed', type=int, default=0, metavar='S', help='base random seed')
  parser.add_argument('--out', default='predictions', metavar='DIR',
                      help='output directory (default: ./predictions)')
  parser.add_argument('--buckets', default=None, metavar='L1,L2,...',
                      help='padding lengths; targets of one bucket share one compiled model')
  parser.add_argument('--no-plots', action='store_true', help='skip the PNG plots')
  parser.add_argument('--memory-budget-gib', type=float, default=None, metavar='GIB',
                      help='memory for one prediction; targets too long for the default path '
                           'run under the long-sequence memory policy (ops/memory_policy.py)')
  parser.add_argument('--devices', type=int, default=None, metavar='N',
                      help='split each prediction over N devices along the residue axis '
                           '(ops/sharding_rules.py)')
  parser.add_argument('--quiet', action='store_true', help='no progress bar or log lines')
  features_cli.add_feature_arguments(parser, predict=True)  # search/template flags, --features


def register(subparsers) -> argparse.ArgumentParser:
  """Adds `predict` to an argparse subparsers object; sets func=run."""
  parser = subparsers.add_parser('predict', help='predict structures from a FASTA file',
                                 description=__doc__.split('\n\n')[0])
  add_arguments(parser)
  parser.set_defaults(func=run)
  return parser


def _choose_preset(args) -> str:
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.config import PRESETS
  from alphafold_jax.inference import weights
  if args.preset is not None:
    return args.preset
  if args.checkpoint is not None:
    preset = weights.checkpoint_preset(args.checkpoint)
    if preset is None:
      raise ValueError(f'checkpoint {args.checkpoint} does not record its preset; pass --preset')
    if preset not in PRESETS:
      raise ValueError(f'checkpoint {args.checkpoint} was trained with preset {preset!r}, '
                       'which is not a structure-prediction model preset; pass --preset')
    return preset
  return weights.default_preset()


def _check_numbers(args) -> None:
  if args.num_samples < 1:
    raise ValueError(f'--num-samples must be >= 1, got {args.num_samples}')
  if args.num_recycle is not None and args.num_recycle < 0:
    raise ValueError(f'--num-recycle must be >= 0, got {args.num_recycle}')
  if args.seed < 0:
    raise ValueError(f'--seed must be >= 0, got {args.seed}')


def run(args: argparse.Namespace) -> int:
  """Executes `predict`; input problems raise ValueError subclasses (exit code 2, no files)."""
  package_log = logging.getLogger('alphafold_jax')
  handler, level = None, package_log.level
  if not args.quiet:  # log lines on stderr for this run only
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter('%(asctime)s %(message)s', '%H:%M:%S'))
    package_log.addHandler(handler)
    package_log.setLevel(logging.INFO)
  try:
    return _run(args)
  finally:
    if handler is not None:
      package_log.removeHandler(handler)
      package_log.setLevel(level)


def _run(args: argparse.Namespace) -> int:
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.config import model_config
  from alphafold_jax.inference import outputs, predict, targets, weights

  _check_numbers(args)
  buckets = predict.parse_buckets(args.buckets) if args.buckets else predict.DEFAULT_BUCKETS
  target_list = targets.read_targets(args.fasta, args.msa)
  raw = predict.check_targets(target_list)
  raw = features_cli.raw_features_for_targets(args, target_list, raw, args.out)
  preset = _choose_preset(args)
  overrides = {} if args.num_recycle is None else {'num_recycle': args.num_recycle}
  config = model_config(preset, **overrides)
  if args.memory_budget_gib is not None:  # memory policy from the longest bucket (issue 17)
    from alphafold_jax.ops import memory_policy
    longest = max(predict.bucket_length(len(t), buckets) for t in target_list)
    config = dataclasses.replace(config, global_config=memory_policy.policy_for_length(
        config.global_config, longest, args.memory_budget_gib))
  params, source = weights.load_params(config, args.params, args.checkpoint)
  log.info('%d target(s); preset %s, %s; num_recycle %d', len(target_list), preset, source,
           config.num_recycle)
  predictor = predict.Predictor(config, params, buckets, num_devices=args.devices)
  started = time.time()
  summary = {'preset': preset, 'params': source, 'num_recycle': int(config.num_recycle),
             'num_samples': args.num_samples, 'seed': args.seed, 'targets': []}
  extra = {'preset': preset, 'params': source}
  with outputs.atomic_output_dir(args.out) as tmp:
    for result in predict.predict_targets(predictor, target_list, args.num_samples, args.seed,
                                          progress=not args.quiet, raw_features=raw):
      files = outputs.write_target(tmp, result, extra, plots=not args.no_plots)
      best = result.best
      entry = {'name': result.target.name, 'length': len(result.target),
               'bucket': best.bucket, 'mean_plddt': outputs.mean_plddt(best),
               'best_sample': result.ranking[0], 'files': files}
      if best.ptm is not None:
        entry['ptm'] = round(best.ptm, 4)
      summary['targets'].append(entry)
      ptm = f'  pTM {best.ptm:.3f}' if best.ptm is not None else ''
      print(f'{result.target.name}: {len(result.target)} residues (bucket {best.bucket}), '
            f'mean pLDDT {outputs.mean_plddt(best):.2f}{ptm}')
    order = {t.name: i for i, t in enumerate(target_list)}  # back to FASTA order
    summary['targets'].sort(key=lambda entry: order[entry['name']])
    summary.update(num_compiles=predictor.num_compiles,
                   compiled_buckets=predictor.compiled_buckets,
                   seconds=round(time.time() - started, 2))
    outputs.write_json(os.path.join(tmp, 'summary.json'), summary)
  print(f'wrote {len(target_list)} target(s) to {args.out} '
        f'({predictor.num_compiles} compile(s), buckets {predictor.compiled_buckets})')
  return 0


def main(argv: Optional[list] = None) -> int:
  """Standalone entry (python -m alphafold_jax.cli.predict)."""
  from alphafold_jax import cli  # pylint: disable=import-outside-toplevel
  return cli.main(['predict', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
  sys.exit(main())
