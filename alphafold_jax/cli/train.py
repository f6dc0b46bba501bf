"""`alphafold-jax train`: train a preset on a directory of structures.

    alphafold-jax train --preset tiny_ca --data tests/data/structures/nano --steps 200 \
        --out runs/tiny [--resume] [--batch-size 2] [--eval-every 50] [--set learning_rate=1e-3]
        [--time-limit 60]

Writes into --out: checkpoints/ (orbax; periodic, atomic), metrics.jsonl, loss_curve.png,
params.npz (AF2 layout), eval.json (per-structure CA-RMSD, lDDT-Ca, TM-score of the final
params). Multi-host: add --coordinator HOST:PORT --num-processes N --process-id I (or the
ALPHAFOLD_JAX_* environment variables, see training/distributed.py) on every process.

Registration: `register(subparsers)` adds the subcommand to the package CLI; `run(args)`
executes it; `main(argv)` runs it standalone (python -m alphafold_jax.cli.train).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from typing import Optional, Sequence

from alphafold_jax.training import distributed
from alphafold_jax.training.config import TrainConfig, TrainConfigError


def _parse_override(text: str):
  key, sep, value = text.partition('=')
  fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
  if not sep or key not in fields:
    raise TrainConfigError(f'--set expects FIELD=VALUE with FIELD one of {sorted(fields)}; '
                           f'got {text!r}')
  kind = type(getattr(TrainConfig(), key))
  try:
    if kind is bool:
      if value.lower() not in ('1', '0', 'true', 'false', 'yes', 'no'):
        raise ValueError(value)
      return key, value.lower() in ('1', 'true', 'yes')
    return key, kind(value)
  except ValueError:
    raise TrainConfigError(f'--set {key}: cannot read {value!r} as {kind.__name__}') from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--preset', required=True, help='training preset (training/presets.py)')
  parser.add_argument('--data', required=True, help='directory of training PDB/mmCIF files')
  parser.add_argument('--steps', type=int, required=True, help='total number of training steps')
  parser.add_argument('--out', required=True, help='output directory')
  parser.add_argument('--resume', action='store_true',
                      help='continue from the newest usable checkpoint in --out')
  parser.add_argument('--val-data', default=None,
                      help='directory of validation structures (default: --data)')
  parser.add_argument('--batch-size', type=int, default=None, help='global batch size')
  parser.add_argument('--seed', type=int, default=None)
  parser.add_argument('--learning-rate', type=float, default=None)
  parser.add_argument('--checkpoint-every', type=int, default=None)
  parser.add_argument('--eval-every', type=int, default=None)
  parser.add_argument('--set', action='append', default=[], metavar='FIELD=VALUE',
                      help='override any TrainConfig field (repeatable)')
  parser.add_argument('--time-limit', type=float, default=None, metavar='MINUTES',
                      help='stop training after the step that ends past this wall-clock budget '
                           '(from the start of the command, set-up and compile included), then '
                           'checkpoint, export and evaluate as at the last step')
  parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
  distributed.add_flags(parser)


def register(subparsers) -> argparse.ArgumentParser:
  """Adds `train` to an argparse subparsers object; sets func=run."""
  parser = subparsers.add_parser('train', help='train a model preset on structures',
                                 description=__doc__.split('\n\n')[0])
  add_arguments(parser)
  parser.set_defaults(func=run)
  return parser


def build_config(preset_config: TrainConfig, args: argparse.Namespace) -> TrainConfig:
  overrides = {'num_steps': args.steps}
  for flag, field in (('batch_size', 'batch_size'), ('seed', 'seed'),
                      ('learning_rate', 'learning_rate'), ('checkpoint_every', 'checkpoint_every'),
                      ('eval_every', 'eval_every')):
    if getattr(args, flag) is not None:
      overrides[field] = getattr(args, flag)
  overrides.update(dict(_parse_override(s) for s in args.set))
  return preset_config.replace(**overrides)


def run(args: argparse.Namespace) -> int:
  """Executes `train`; returns the process exit code."""
  started = time.monotonic()
  if args.time_limit is not None and not args.time_limit > 0:
    raise TrainConfigError(f'--time-limit must be a positive number of minutes, '
                           f'got {args.time_limit}')
  distributed.initialize(distributed.from_args(args))  # before any device use

  import jax  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training import data as data_lib  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training import presets, trainer  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.evaluation import Evaluator  # pylint: disable=import-outside-toplevel

  preset = presets.get_preset(args.preset)
  config = build_config(preset.train_config, args)
  named = data_lib.load_structures(args.data)
  examples = preset.make_examples(named, seed=config.seed)  # crop + MSA processing per use
  val_named = named if args.val_data is None else data_lib.load_structures(args.val_data)
  evaluator = Evaluator(preset.predict_ca, preset.make_eval_examples(val_named), seed=config.seed)

  init_rng = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)  # != the train-state key
  params = preset.init(init_rng, examples.example(0))
  if preset.batch_source is not None:
    sampler = preset.batch_source(args.data, config)
  else:
    sampler = data_lib.DatasetSampler(examples, config.batch_size)
  result = trainer.train(preset.loss_fn, params, sampler, config, out_dir=args.out,
                         resume=args.resume, evaluator=evaluator,
                         metadata={'preset': preset.name, 'data': os.path.abspath(args.data)},
                         progress=not args.no_progress,
                         deadline=None if args.time_limit is None
                         else started + 60.0 * args.time_limit)
  means, rows = evaluator(result.state.params)
  if jax.process_index() == 0:
    step = int(jax.device_get(result.state.step))
    with open(os.path.join(args.out, 'eval.json'), 'w') as f:
      json.dump({'step': step, 'mean': means, 'structures': rows}, f, indent=1)
    last = result.losses[max(result.losses)] if result.losses else float('nan')
    print(f'trained {preset.name} to step {step} (last loss {last:.4g}); outputs in {args.out}')
    for row in rows:
      print(f"  {row['name']:>8s}  CA-RMSD {row['ca_rmsd']:6.2f} A  lDDT-Ca {row['lddt_ca']:.3f}"
            f"  TM {row['tm_score']:.3f}")
  return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='alphafold-jax train', description=__doc__.split('\n\n')[0])
  add_arguments(parser)
  args = parser.parse_args(argv)
  try:
    return run(args)
  except (ValueError, FileNotFoundError) as e:
    print(f'alphafold-jax train: error: {e}', file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main())
