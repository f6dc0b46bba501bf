"""`predict` with several models x seeds, AF2's output layout, and the model knobs.

    alphafold-jax predict IN.fasta --models model_1_ptm,model_2_ptm,... --params-dir DIR
        [--num-seeds K] [--rank-by plddt|ptm] [--output-layout ours|af2] [--save-all]
        [--benchmark] [--num-recycle N] [--recycle-early-stop-tolerance T]
        [--max-msa CLUSTERS:EXTRA] [--use-dropout] [--num-ensemble E]
        [--chunk-budget-mib M] [--bf16] [--features features.pkl]
        [--memory-budget-gib G] [--devices N]

`--params-dir DIR` holds DeepMind's file names, params_<model>.npz. Without --models the one
preset of `--preset` runs (with --params / --checkpoint / --params-dir / bundled weights).
Runs, seeds and ranking: inference/model_runner.py (AF2's `<model>_pred_<i>` and
`model_random_seed`); files: inference/af2_outputs.py with `--output-layout af2` (one folder
per target, OUT/<target>/), else our layout (outputs.py) with every run as a sample of the
target. The knobs set config fields (`config_overrides`) for the single-model path too.
"""

from __future__ import annotations

import argparse
import ast
import logging
import os
import sys
import time
from typing import Any, Dict, Optional, Sequence, Tuple

log = logging.getLogger('alphafold_jax.inference.predict')

LAYOUTS = ('ours', 'af2')


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """The model-selection, output-layout and model-knob flags of `predict`."""
  group = parser.add_argument_group('several models, AF2 outputs and model knobs')
  group.add_argument('--models', default=None, metavar='NAME,NAME,...',
                     help='models to run and rank, e.g. model_1_ptm,model_2_ptm,...')
  group.add_argument('--params-dir', default=None, metavar='DIR',
                     help="folder with DeepMind's params_<model>.npz files")
  group.add_argument('--num-seeds', type=int, default=1, metavar='K',
                     help='predictions per model (runs <model>_pred_0..K-1, AF2 seeds)')
  group.add_argument('--rank-by', choices=('plddt', 'ptm'), default='plddt',
                     help='ranking confidence: mean pLDDT (AF2 monomer) or pTM (_ptm models)')
  group.add_argument('--output-layout', choices=LAYOUTS, default='ours',
                     help="'af2': AF2 v2.3's files (ranked_*.pdb, ranking_debug.json, ...)")
  group.add_argument('--save-all', action='store_true',
                     help='af2 layout: also result_<run>.pkl with all outputs and '
                          'representations')
  group.add_argument('--benchmark', action='store_true',
                     help='time a second, compiled predict per run (predict_benchmark_*)')
  group.add_argument('--recycle-early-stop-tolerance', type=float, default=None, metavar='T',
                     help='stop recycling once the CA distances change by < T angstrom (RMS)')
  group.add_argument('--max-msa', default=None, metavar='CLUSTERS:EXTRA',
                     help='MSA cluster rows and extra MSA rows, e.g. 512:1024')
  group.add_argument('--use-dropout', action='store_true',
                     help='keep dropout on at inference (samples differ by seed)')
  group.add_argument('--num-ensemble', type=int, default=None, metavar='E',
                     help='ensemble members averaged per cycle (AF2 CASP14: 8)')
  group.add_argument('--bf16', action='store_true',
                     help='bfloat16 compute in the trunk (fp32 parameters and outputs)')
  group.add_argument('--model-set', action='append', default=[], metavar='FIELD=VALUE',
                     help='override a model config field (config/overrides.py names, e.g. '
                          'evoformer_num_block=2 or structure_module.num_layer=4); the '
                          'parameters must match the changed model; repeatable')


def parse_max_msa(text: str) -> Dict[str, int]:
  clusters, sep, extra = text.partition(':')
  try:
    values = int(clusters), int(extra)
  except ValueError:
    values = None
  if not sep or values is None or values[0] < 1 or values[1] < 1:
    raise ValueError(f'--max-msa expects CLUSTERS:EXTRA (positive integers), got {text!r}')
  return {'max_msa_clusters': values[0], 'max_extra_msa': values[1]}


def config_overrides(args) -> Dict[str, Any]:
  """model_config overrides of the knobs (checked)."""
  overrides: Dict[str, Any] = {}
  if args.num_recycle is not None:
    overrides['num_recycle'] = args.num_recycle
  tol = getattr(args, 'recycle_early_stop_tolerance', None)
  if tol is not None:
    if not tol >= 0:
      raise ValueError(f'--recycle-early-stop-tolerance must be >= 0, got {tol}')
    overrides['recycle_early_stop_tolerance'] = float(tol)
  if getattr(args, 'max_msa', None):
    overrides.update(parse_max_msa(args.max_msa))
  if getattr(args, 'use_dropout', False):
    overrides['eval_dropout'] = True
  if getattr(args, 'num_ensemble', None) is not None:
    if args.num_ensemble < 1:
      raise ValueError(f'--num-ensemble must be >= 1, got {args.num_ensemble}')
    overrides['num_ensemble'] = args.num_ensemble
  if getattr(args, 'chunk_budget_mib', None) is not None:  # flag and check: cli/predict.py
    overrides['chunk_budget_mib'] = float(args.chunk_budget_mib)
  if getattr(args, 'bf16', False):
    overrides['bfloat16'] = True
  overrides.update(parse_model_set(getattr(args, 'model_set', None) or []))
  return overrides


def parse_model_set(items: Sequence[str]) -> Dict[str, Any]:
  """--model-set FIELD=VALUE items -> overrides; VALUE read as a Python literal (1, 0.5,
  True, None) or else kept as text. Unknown fields fail later, in model_config."""
  overrides: Dict[str, Any] = {}
  for item in items:
    field, sep, text = item.partition('=')
    if not sep or not field.strip():
      raise ValueError(f'--model-set expects FIELD=VALUE, got {item!r}')
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    overrides[field.strip()] = value
  return overrides


def run_model_options(args, config, lengths: Sequence[int], buckets: Sequence[int]
                      ) -> Tuple[Any, Optional[int]]:
  """(config, num_devices) for RunModel from `--memory-budget-gib` and `--devices`, for both
  predict paths (one model: cli/predict.py; several: `run`): the memory policy chosen for the
  longest padded target (ops/memory_policy.policy_for_length) and the number of devices each
  prediction is split over along the residue axis (ops/sharding_rules.py; None = one)."""
  # pylint: disable=import-outside-toplevel
  import dataclasses
  from alphafold_jax.inference import predict
  from alphafold_jax.ops import memory_policy
  if args.memory_budget_gib is not None and lengths:
    longest = max(predict.bucket_length(n, buckets) for n in lengths)
    config = dataclasses.replace(config, global_config=memory_policy.policy_for_length(
        config.global_config, longest, args.memory_budget_gib))
    gc = config.global_config
    if gc.inplace_pair_updates:
      chosen = 'long_sequence_inference' + (' (bf16 pair storage)' if gc.pair_storage_bfloat16
                                            else '')
    else:
      chosen = f'auto_chunking ({gc.chunk_budget_mib:g} MiB chunks)'
    log.info('memory policy for L=%d in %.3g GiB: %s', longest, args.memory_budget_gib, chosen)
  if args.devices is None or args.devices == 1:
    return config, None
  import jax
  if args.devices > jax.local_device_count():
    raise ValueError(f'--devices {args.devices}: only {jax.local_device_count()} device(s) '
                     'available (CPU: XLA_FLAGS=--xla_force_host_platform_device_count=N)')
  return config, args.devices


def wanted(args) -> bool:
  """Whether `predict` takes this path (several models / seeds, AF2 layout, params dir)."""
  return bool(args.models or args.params_dir or args.output_layout == 'af2'
              or args.num_seeds != 1 or args.save_all or args.benchmark
              or args.rank_by != 'plddt')


def _model_specs(args, preset_fn, overrides):
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.config import model_config
  from alphafold_jax.inference import model_runner, weights
  if args.models and (args.params or args.checkpoint):
    raise ValueError('--models reads params_<model>.npz from --params-dir (or the bundled '
                     'weights); --params/--checkpoint take one model (--preset)')
  if args.models:
    names = model_runner.parse_model_names(args.models)
    specs = model_runner.resolve_models(names, args.params_dir, overrides)
    model_runner.load_all_params(specs)
    return specs
  preset = preset_fn(args)
  if args.params_dir is not None:
    specs = model_runner.resolve_models([preset], args.params_dir, overrides)
    model_runner.load_all_params(specs)
    return specs
  spec = model_runner.ModelSpec(name=preset, config=model_config(preset, **overrides))
  spec.params, spec.source = weights.load_params(spec.config, args.params, args.checkpoint)
  return [spec]


def run(args, preset_fn, features_cli) -> int:
  """Several models x seeds on every target; files in `args.output_layout`."""
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.inference import af2_outputs, model_runner, outputs, predict, targets
  from alphafold_jax.inference.output_dir import OutputDir
  if args.num_samples != 1:
    raise ValueError('--num-samples is for one model; use --num-seeds with --models')
  if args.num_seeds < 1:
    raise ValueError(f'--num-seeds must be >= 1, got {args.num_seeds}')
  if args.seed < 0:
    raise ValueError(f'--seed must be >= 0, got {args.seed}')
  if args.num_recycle is not None and args.num_recycle < 0:
    raise ValueError(f'--num-recycle must be >= 0, got {args.num_recycle}')
  if args.save_all and args.output_layout != 'af2':
    raise ValueError('--save-all writes result_<run>.pkl of the af2 layout; add '
                     '--output-layout af2')
  overrides = config_overrides(args)
  buckets = predict.parse_buckets(args.buckets) if args.buckets else predict.DEFAULT_BUCKETS
  target_list = targets.read_targets(args.fasta, args.msa)
  if not target_list:
    raise targets.InputError('no targets to predict')
  feature_seconds, raw = {}, {}
  for target in target_list:
    t0 = time.time()
    raw[target.name] = targets.raw_features(target)
    feature_seconds[target.name] = time.time() - t0
  if args.output_layout == 'af2' and getattr(args, 'msa_dir', None) is None:
    args.msa_dir = args.out  # searches write OUT/<target>/msas/, as AF2 does
  t0 = time.time()
  raw = features_cli.raw_features_for_targets(args, target_list, raw, args.out)
  shared = (time.time() - t0) / len(target_list)  # pickles / searches, shared out
  specs = _model_specs(args, preset_fn, overrides)
  num_devices = None
  for spec in specs:  # --memory-budget-gib, --devices
    spec.config, num_devices = run_model_options(args, spec.config,
                                                 [len(t) for t in target_list], buckets)
  if args.rank_by == 'ptm':
    plain = [s.name for s in specs if not s.config.has_pae_head]
    if plain:
      raise ValueError(f'--rank-by ptm needs _ptm models; {", ".join(plain)} has no PAE head')
  runner = model_runner.ModelRunner(buckets, num_devices=num_devices)
  log.info('%d target(s); models %s; %d seed(s)', len(target_list),
           ', '.join(s.name for s in specs), args.num_seeds)
  started = time.time()
  summary = {'models': [s.name for s in specs], 'params': [s.source for s in specs],
             'num_seeds': args.num_seeds, 'seed': args.seed, 'rank_by': args.rank_by,
             'output_layout': args.output_layout, 'config_overrides': overrides,
             'targets': []}
  failed = written = 0
  with OutputDir(args.out) as sink:  # checked (writable, stale staging removed) before work
    for target in sorted(target_list, key=lambda t: predict.bucket_length(len(t), buckets)):
      entry = {'name': target.name, 'length': len(target)}
      staging = sink.stage(target.name)
      try:  # isolation: a failing target (out of memory included) loses only its own files
        runs = runner.run_target(specs, len(target), raw[target.name], args.num_seeds,
                                 args.seed, args.rank_by, keep_outputs=args.save_all,
                                 benchmark=args.benchmark)
        order = model_runner.rank_runs(runs)
        timings = {'features': feature_seconds[target.name] + shared}
        for r in runs:
          timings.update(r.timings)
        if args.output_layout == 'af2':
          files = af2_outputs.write_af2_target(
              os.path.join(staging, target.name), target.sequence, raw[target.name], runs,
              order, timings, rank_by=args.rank_by, save_all=args.save_all)
          files = [f'{target.name}/{f}' for f in files]
        else:
          names = [r.name for r in runs]
          result = predict.TargetResult(target=target, samples=[r.sample for r in runs],
                                        ranking=[names.index(n) for n in order])
          files = outputs.write_target(staging, result, {'runs': names},
                                       plots=not args.no_plots)
        sink.commit(target.name)
      except Exception as e:  # pylint: disable=broad-except  (per-target isolation, as predict)
        sink.discard(target.name)
        entry.update(status='failed', error=predict.describe_failure(e))
        failed += 1
        print(f'alphafold-jax predict: target {target.name!r} failed: {entry["error"]}',
              file=sys.stderr)
        summary['targets'].append(entry)
        continue
      written += 1
      best = runs[[r.name for r in runs].index(order[0])]
      entry.update({
          'status': 'ok', 'order': order,
          'ranking_confidence': {r.name: round(r.ranking_confidence, 4) for r in runs},
          'num_recycles': {r.name: r.sample.num_recycles for r in runs}, 'files': files})
      summary['targets'].append(entry)
      print(f'{target.name}: {len(target)} residues, best {order[0]} '
            f'(mean pLDDT {best.sample.mean_plddt:.2f}'
            + ('' if best.sample.ptm is None else f', pTM {best.sample.ptm:.3f}') + ')')
    position = {t.name: i for i, t in enumerate(target_list)}  # back to FASTA order
    summary['targets'].sort(key=lambda entry: position[entry['name']])
    summary.update(num_written=written, num_failed=failed,
                   num_compiles=runner.num_compiles, run_options=runner.run_options(),
                   compiles=[list(c) for c in runner.compiles],
                   seconds=round(time.time() - started, 2))
    sink.write_json('summary.json', summary)
  print(f'wrote {written} of {len(target_list)} target(s) to {args.out} '
        f'({runner.num_compiles} compile(s))' + (f'; {failed} failed, see summary.json' if failed else ''))
  return 1 if failed else 0
