"""`predict --preset nano_diffusion`: backbone samples ranked by self-consistency.

    alphafold-jax predict IN.fasta --preset nano_diffusion [--params P.npz | --checkpoint DIR]
        [--num-samples K] [--seed S] [--buckets ...] [--max-length N] --out OUT

Sampling, atoms (N, CA, C, O, CB), ranking and files: inference/diffusion_predict.py. K defaults
to 5 (`diffusion_predict.DEFAULT_NUM_SAMPLES`). Flags of the all-atom models that this
single-sequence backbone model cannot use (--msa, --templates and the other search flags,
--models, --relax, --num-recycle, ...) are refused with one error line (exit code 2), as is
any bad input, before any output is written. Targets are isolated as in cli/predict.py: one
that fails is recorded in OUT/summary.json, the others are written, exit code 1.
"""

from __future__ import annotations

import argparse
import logging
import time

log = logging.getLogger('alphafold_jax.inference.predict')

# predict flags (argparse dests) this preset uses; every other flag must keep its default.
_USED = ('fasta', 'preset', 'params', 'checkpoint', 'num_samples', 'seed', 'out', 'buckets',
         'max_length', 'no_plots', 'quiet')
_WHY = {
    'relax': 'Amber relax needs all-atom models; this preset writes backbone atoms only '
             '(N, CA, C, O, CB)',
    'msa': 'it is a single-sequence model (no MSA input)',
    'templates': 'it is a single-sequence model (no template input)',
    'models': 'it is one model; use --preset nano_diffusion alone (with --num-samples K)',
}


def is_diffusion_preset(name) -> bool:
  from alphafold_jax.config import DIFFUSION_PRESETS  # pylint: disable=import-outside-toplevel
  return name in DIFFUSION_PRESETS


def wanted(args) -> bool:
  """True when --preset (or, without it, the --checkpoint's recorded preset) is a diffusion
  preset."""
  if args.preset is not None:
    return is_diffusion_preset(args.preset)
  if args.checkpoint is not None and getattr(args, 'models', None) is None:
    from alphafold_jax.inference import weights  # pylint: disable=import-outside-toplevel
    weights.restorable_steps(args.checkpoint)
    return is_diffusion_preset(weights.checkpoint_preset(args.checkpoint))
  return False


def _parser_defaults() -> dict:
  """{dest: (default, option string)} of every predict flag."""
  from alphafold_jax.cli import predict as predict_cli  # pylint: disable=import-outside-toplevel
  parser = argparse.ArgumentParser(add_help=False)
  predict_cli.add_arguments(parser)
  return {a.dest: (a.default, a.option_strings[-1] if a.option_strings else a.dest)
          for a in parser._actions}  # pylint: disable=protected-access


def check_flags(args, preset: str) -> None:
  """ValueError (one line) for a flag this preset does not use (see module docstring)."""
  for dest, (default, flag) in _parser_defaults().items():
    if dest in _USED or not hasattr(args, dest) or getattr(args, dest) == default:
      continue
    why = _WHY.get(dest, 'it is a single-sequence backbone diffusion model')
    raise ValueError(f'{flag} is not available with --preset {preset}: {why}')


def run(args: argparse.Namespace, preset: str) -> int:
  """Executes predict for a diffusion preset; input problems raise ValueError (exit code 2)."""
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.cli import predict as predict_cli
  from alphafold_jax.config import diffusion_config
  from alphafold_jax.inference import diffusion_predict as dp
  from alphafold_jax.inference import predict, targets
  from alphafold_jax.inference.output_dir import OutputDir, check_unique_names

  check_flags(args, preset)
  if args.num_samples is None:
    args.num_samples = dp.DEFAULT_NUM_SAMPLES
  predict_cli.check_numbers(args)
  buckets = predict.parse_buckets(args.buckets) if args.buckets else predict.DEFAULT_BUCKETS
  target_list = targets.read_targets(args.fasta, [])
  if not target_list:
    raise targets.InputError(f'{args.fasta}: no targets to predict')
  for target in target_list:
    dp.model_example(target.sequence)  # the sequence's letters, before any model work
  check_unique_names({'(summary)': ['summary.json'],
                      **{t.name: dp.planned_files(t.name, args.num_samples) for t in target_list}})
  config = diffusion_config(preset)
  params, source = dp.load_params(config, preset, args.params, args.checkpoint)
  label = predict_cli.source_label(source)
  log.info('%d target(s); preset %s, %s; %d sample(s) each', len(target_list), preset, source,
           args.num_samples)
  predictor = dp.DiffusionPredictor(config, params, buckets)
  warnings = predict_cli.announce_padding(target_list, predictor, args.buckets is not None)
  started = time.time()
  summary = {'preset': preset, 'params': label, 'num_samples': args.num_samples,
             'seed': args.seed, 'ranking_metric': dp.RANKING_METRIC, 'targets': []}
  if warnings:
    summary['warnings'] = warnings
  extra = {'preset': preset, 'params': label}
  failed = written = 0
  order = sorted(range(len(target_list)), key=lambda i: predictor.bucket_for(len(target_list[i])))
  with OutputDir(args.out) as sink:
    for i in order:
      target = target_list[i]
      entry = {'name': target.name, 'length': len(target)}
      if args.max_length is not None and len(target) > args.max_length:
        entry.update(status='skipped', error=f'{len(target)} residues > --max-length '
                     f'{args.max_length}')
      else:
        try:
          result = predictor.predict(target, args.num_samples, args.seed)
          staging = sink.stage(target.name)
          dp.write_target(staging, result, extra)
          files = sink.commit(target.name)
        except Exception as e:  # pylint: disable=broad-except  (isolation: one target's files)
          sink.discard(target.name)
          entry.update(status='failed', error=predict.describe_failure(e))
        else:
          best = result.ranking[0]
          score = float(result.scores['score'][best])
          entry.update(status='ok', bucket=result.best.bucket, best_sample=best,
                       best_seed=result.best.seed, **{dp.RANKING_METRIC: round(score, 4)},
                       files=files)
          written += 1
          print(f'{target.name}: {len(target)} residues (bucket {result.best.bucket}), '
                f'{len(result.samples)} sample(s); best: sample {best} (seed '
                f'{result.best.seed}), mean CA-RMSD to the other samples {score:.2f} A')
      if entry['status'] != 'ok':
        failed += predict_cli.report_not_written(target.name, entry['status'], entry['error'])
      summary['targets'].append(entry)
    return predict_cli.finish_run(sink, summary, target_list, written, failed, predictor,
                                  started, args.out)
