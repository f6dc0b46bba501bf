"""`alphafold-jax predict`: FASTA (+ MSAs) -> PDB/mmCIF, confidence JSON, plots, ranking.

    alphafold-jax predict INPUT.fasta [--msa [NAME=]FILE.a3m|FILE.sto ...] [--preset NAME]
                          [--params FILE.npz | --checkpoint DIR] [--num-recycle N]
                          [--num-samples K] [--seed S] [--out DIR] [--buckets 64,128,...]

Every FASTA record is a target (output names: first word of the header); with a multimer
preset (model_N_multimer_v3) a record `A:B` or a whole file is a complex (inference/complexes.py);
with --preset nano_diffusion, K backbone samples ranked by self-consistency
(cli/predict_diffusion.py). Without --params
or --checkpoint the weights bundled with the package for the preset are used (works offline);
without --preset: model_1_ptm if bundled, else the only bundled preset (with --checkpoint:
the preset recorded in the checkpoint). Output files per target: see inference/outputs.py;
plus OUT/summary.json (run settings, per-target scores, compile count).

All inputs are read and checked before any model work (sequences, MSA queries, flags, output
file names unique across targets, parameter shapes and values, OUT writable), so a bad input
gives one error line, exit code 2 and no output files. Then every target is isolated
(inference/output_dir.py): its files are staged and renamed into OUT when it is finished; a
target that fails (refused by the memory estimate, out of memory, non-finite output) is
recorded in summary.json with its error, the others are still written, exit code 1. Targets
padded far beyond their length (--buckets) are announced. summary.json and confidence.json
hold no absolute paths (file names only).

Registration: `register(subparsers)` adds the subcommand; `run(args)` executes it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Optional

from alphafold_jax.cli import features as features_cli
from alphafold_jax.cli import predict_diffusion  # --preset nano_diffusion: backbone samples
from alphafold_jax.cli import predict_models  # issue 18: --models, AF2 layout, model knobs
from alphafold_jax.relax import cli_support as relax_cli  # --relax (OpenMM only when used)

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
  parser.add_argument('--num-samples', type=int, default=None, metavar='K',
                      help='samples per target with seeds S..S+K-1, ranked by mean pLDDT '
                           '(default 1; nano_diffusion: 5, ranked by self-consistency)')
  parser.add_argument('--seed', type=int, default=0, metavar='S', help='base random seed')
  parser.add_argument('--out', default='predictions', metavar='DIR',
                      help='output directory (default: ./predictions)')
  parser.add_argument('--buckets', default=None, metavar='L1,L2,...',
                      help='padding lengths; targets of one bucket share one compiled model')
  parser.add_argument('--chunk-budget-mib', type=float, default=None, metavar='MIB',
                      help='chunk the model\'s sub-layers so one chunk\'s largest intermediate '
                           'stays under MIB (less memory, slower; default: the preset\'s)')
  parser.add_argument('--max-length', type=int, default=None, metavar='N',
                      help='skip targets longer than N residues (recorded in summary.json)')
  parser.add_argument('--no-plots', action='store_true', help='skip the PNG plots')
  parser.add_argument('--memory-budget-gib', type=float, default=None, metavar='GIB',
                      help='memory for one prediction; targets too long for the default path '
                           'run under the long-sequence memory policy (ops/memory_policy.py)')
  parser.add_argument('--devices', type=int, default=None, metavar='N',
                      help='split each prediction over N devices along the residue axis '
                           '(ops/sharding_rules.py)')
  parser.add_argument('--quiet', action='store_true', help='no progress bar or log lines')
  features_cli.add_feature_arguments(parser, predict=True)  # search/template flags, --features
  predict_models.add_arguments(parser)  # --models, --params-dir, --output-layout, knobs
  relax_cli.add_relax_argument(parser)  # --relax none|best|all: relaxed_<stem>.pdb


def register(subparsers) -> argparse.ArgumentParser:
  """Adds `predict` to an argparse subparsers object; sets func=run."""
  parser = subparsers.add_parser('predict', help='predict structures from a FASTA file',
                                 description=__doc__.split('\n\n')[0])
  add_arguments(parser)
  parser.set_defaults(func=run)
  return parser


MAX_SEED = 2 ** 32 - 1  # jax.random.PRNGKey keeps 32 bits: larger seeds would repeat smaller ones
MAX_RECYCLE = 1000


def _choose_preset(args) -> str:
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.config import DIFFUSION_PRESETS, PRESETS
  from alphafold_jax.inference import weights
  if args.preset is not None:
    return args.preset
  if args.checkpoint is not None:
    weights.restorable_steps(args.checkpoint)  # says "no finalised checkpoint" when empty
    preset = weights.checkpoint_preset(args.checkpoint)
    if preset is None:
      raise ValueError(f'checkpoint {args.checkpoint} does not record its preset; pass --preset')
    if preset not in PRESETS and preset not in DIFFUSION_PRESETS:
      raise ValueError(f'checkpoint {args.checkpoint} was trained with preset {preset!r}, '
                       'which is not a structure-prediction model preset; pass --preset')
    return preset
  return weights.default_preset()


def check_numbers(args) -> None:
  if args.num_samples < 1:
    raise ValueError(f'--num-samples must be >= 1, got {args.num_samples}')
  if args.num_recycle is not None and not 0 <= args.num_recycle <= MAX_RECYCLE:
    raise ValueError(f'--num-recycle must be in 0..{MAX_RECYCLE}, got {args.num_recycle}')
  if not 0 <= args.seed <= MAX_SEED - (args.num_samples - 1):
    raise ValueError(f'--seed must be in 0..{MAX_SEED - (args.num_samples - 1)} (seeds S..'
                     f'S+K-1 must fit in 32 bits), got {args.seed}')
  if args.chunk_budget_mib is not None and not 0 < args.chunk_budget_mib < float('inf'):
    raise ValueError(f'--chunk-budget-mib must be a positive number, got {args.chunk_budget_mib}')
  if args.max_length is not None and args.max_length < 1:
    raise ValueError(f'--max-length must be >= 1, got {args.max_length}')
  if args.devices is not None and args.devices < 1:
    raise ValueError(f'--devices must be >= 1, got {args.devices}')
  if args.memory_budget_gib is not None and not 0 < args.memory_budget_gib < float('inf'):
    raise ValueError(f'--memory-budget-gib must be a positive number, got '
                     f'{args.memory_budget_gib}')


def announce_padding(target_list, predictor, buckets_given: bool) -> list:
  """Warnings (printed on stderr, kept in summary.json) for targets padded far beyond their
  length, e.g. beyond the largest --buckets value."""
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.inference import predict
  notes = []
  for target in target_list:
    n, bucket = len(target), predictor.bucket_for(len(target))
    if bucket > 2 * n and bucket - n > 64:
      beyond = n > max(predictor.buckets)
      why = (f'beyond the largest bucket {max(predictor.buckets)}, lengths round up to a '
             f'multiple of {predict.BUCKET_STEP_BEYOND}' if beyond else 'its bucket')
      flag = '--buckets' if buckets_given else '--buckets (default buckets in use)'
      notes.append(f'target {target.name!r} ({n} residues) is padded to {bucket} residues '
                   f'({why}): slower and more memory; add a bucket >= {n} to {flag}')
  for note in notes:
    print(f'alphafold-jax predict: warning: {note}', file=sys.stderr)
  return notes


def source_label(source: str) -> str:
  """The params description for JSON files: file and directory names, no absolute path."""
  words = source.split(' ')
  return ' '.join(os.path.basename(w.rstrip('/')) if os.sep in w else w for w in words)


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
  from alphafold_jax.inference.output_dir import OutputDir, check_unique_names, planned_files

  if predict_diffusion.wanted(args):  # backbone diffusion (cli/predict_diffusion.py)
    return predict_diffusion.run(args, _choose_preset(args))
  if args.num_samples is None:
    args.num_samples = 1
  check_numbers(args)
  relax_cli.check_relax_mode(args.relax)  # a missing [relax] extra fails before any work
  if predict_models.wanted(args):  # several models / seeds, AF2 layout (cli/predict_models.py)
    if args.relax != 'none':
      raise ValueError('--relax runs on the single-model path (--preset); with --models, '
                       'relax the ranked_*.pdb files afterwards')
    return predict_models.run(args, _choose_preset, features_cli)
  if getattr(model_config(_choose_preset(args)), 'multimer', False):
    if args.relax != 'none':
      raise ValueError('--relax is not available for complexes (multimer presets) yet')
    from alphafold_jax.inference import complexes  # AF2-Multimer: complexes, ipTM ranking
    return complexes.run(args, _choose_preset(args))
  buckets = predict.parse_buckets(args.buckets) if args.buckets else predict.DEFAULT_BUCKETS
  target_list = targets.read_targets(args.fasta, args.msa)
  check_unique_names({'(summary)': ['summary.json'],
                      **{t.name: planned_files(t.name, args.num_samples) for t in target_list}})
  raw = predict.check_targets(target_list)
  raw = features_cli.raw_features_for_targets(args, target_list, raw, args.out)
  preset = _choose_preset(args)
  overrides = predict_models.config_overrides(args)  # --num-recycle, --bf16, ... (issue 18)
  config = model_config(preset, **overrides)
  config, num_devices = predict_models.run_model_options(  # --memory-budget-gib, --devices
      args, config, [len(t) for t in target_list], buckets)
  params, source = weights.load_params(config, args.params, args.checkpoint)
  label = source_label(source)
  log.info('%d target(s); preset %s, %s; num_recycle %d', len(target_list), preset, source,
           config.num_recycle)
  predictor = predict.Predictor(config, params, buckets, num_devices=num_devices)
  warnings = announce_padding(target_list, predictor, args.buckets is not None)
  started = time.time()
  summary = {'preset': preset, 'params': label, 'num_recycle': int(config.num_recycle),
             'num_samples': args.num_samples, 'seed': args.seed, 'targets': []}
  if warnings:
    summary['warnings'] = warnings
  extra = {'preset': preset, 'params': label}
  failed = written = 0
  with OutputDir(args.out) as sink:  # checked (writable, stale staging removed) before work
    for outcome in predict.run_targets(predictor, target_list, args.num_samples, args.seed,
                                       progress=not args.quiet, raw_features=raw,
                                       max_length=args.max_length):
      target = outcome.target
      entry = {'name': target.name, 'length': len(target), 'status': outcome.status}
      if outcome.status == 'ok':
        try:
          staging = sink.stage(target.name)
          outputs.write_target(staging, outcome.result, extra, plots=not args.no_plots)
          relaxed = relax_cli.relax_outputs(
              staging, {target.name: _ranked_structure_files(outcome.result)}, args.relax,
              log=log)  # a failed relax keeps the unrelaxed files and is reported
          files = sink.commit(target.name)
        except Exception as e:  # pylint: disable=broad-except  (isolation: one target's files)
          sink.discard(target.name)
          outcome = predict.TargetOutcome(target, 'failed', error=predict.describe_failure(e))
          entry['status'] = 'failed'
        else:
          best = outcome.result.best
          entry.update(bucket=best.bucket, mean_plddt=outputs.mean_plddt(best),
                       best_sample=outcome.result.ranking[0], files=files)
          if best.ptm is not None:
            entry['ptm'] = round(best.ptm, 4)
          if relaxed:
            entry['relax'] = relaxed[target.name]
          written += 1
          ptm = f'  pTM {best.ptm:.3f}' if best.ptm is not None else ''
          print(f'{target.name}: {len(target)} residues (bucket {best.bucket}), '
                f'mean pLDDT {outputs.mean_plddt(best):.2f}{ptm}')
      if outcome.status != 'ok':
        entry['error'] = outcome.error
        failed += report_not_written(target.name, outcome.status, outcome.error)
      summary['targets'].append(entry)
    return finish_run(sink, summary, target_list, written, failed, predictor, started, args.out)


def report_not_written(name: str, status: str, error: str) -> int:
  """Prints the stderr line of a 'failed' or 'skipped' target; returns 1 if it failed."""
  kind = 'failed' if status == 'failed' else 'skipped'
  print(f'alphafold-jax predict: target {name!r} {kind}: {error}', file=sys.stderr)
  return int(status == 'failed')


def finish_run(sink, summary: dict, target_list, written: int, failed: int, predictor,
               started: float, out: str) -> int:
  """Writes OUT/summary.json (targets back in FASTA order, counts, compiles, seconds), prints
  the last line; returns the exit code (1 when a target failed)."""
  order = {t.name: i for i, t in enumerate(target_list)}  # back to FASTA order
  summary['targets'].sort(key=lambda entry: order[entry['name']])
  summary.update(num_written=written, num_failed=failed,
                 num_skipped=len(target_list) - written - failed,
                 num_compiles=predictor.num_compiles,
                 compiled_buckets=predictor.compiled_buckets,
                 seconds=round(time.time() - started, 2))
  sink.write_json('summary.json', summary)
  print(f'wrote {written} of {len(target_list)} target(s) to {out} '
        f'({predictor.num_compiles} compile(s), buckets {predictor.compiled_buckets})'
        + (f'; {failed} failed, see summary.json' if failed else ''))
  return 1 if failed else 0


def _ranked_structure_files(result) -> list:
  """The PDB files of a target's samples, best first: NAME.pdb alone for one sample, else
  NAME.sample_K.pdb in ranking order (NAME.pdb is a copy of the best)."""
  name = result.target.name
  if len(result.samples) == 1:
    return [f'{name}.pdb']
  return [f'{name}.sample_{k}.pdb' for k in result.ranking]


def main(argv: Optional[list] = None) -> int:
  """Standalone entry (python -m alphafold_jax.cli.predict)."""
  from alphafold_jax import cli  # pylint: disable=import-outside-toplevel
  return cli.main(['predict', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
  sys.exit(main())
