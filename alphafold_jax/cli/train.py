"""`alphafold-jax train`: train a preset on a directory of structures.

    alphafold-jax train --preset tiny_ca --data tests/data/structures/nano --steps 200 \
        --out runs/tiny [--resume] [--batch-size 2] [--eval-every 50] [--set learning_rate=1e-3]
        [--time-limit 60]

Writes into --out: checkpoints/ (orbax; periodic, atomic), metrics.jsonl, loss_curve.png,
params.npz (AF2 layout), eval.json (per-structure CA-RMSD, lDDT-Ca, TM-score of the final
params). Multi-host: add --coordinator HOST:PORT --num-processes N --process-id I (or the
ALPHAFOLD_JAX_* environment variables, see training/distributed.py) on every process.

Checked before any work (one error line, exit code 2, nothing written): the flags, --out (a
writable directory or creatable), --resume against the checkpoints in --out (no checkpoint:
a note, training starts at step 0; --steps below the newest checkpoint's step: an error;
checkpoints present without --resume: an error), and the training data: every structure file
(.pdb/.cif/.mmcif/.ent, optionally .gz) is read and validated up front; bad ones are skipped,
each named in a warning line, and counted (`skipped_structures` in eval.json).

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
from typing import Any, Dict, Optional, Sequence

from alphafold_jax.training import distributed
from alphafold_jax.training.config import TrainConfig, TrainConfigError

PROG = 'alphafold-jax train'
_FINALIZED_FILE = '_CHECKPOINT_METADATA'  # orbax writes it last (training/checkpoints.py)


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
  parser.add_argument('--init-params', default=None, metavar='FILE.npz',
                      help="start from these weights (AF2 .npz layout, e.g. DeepMind's "
                           'params_model_1.npz for af2_finetune) instead of a random init; the '
                           "file must match the preset's parameter tree exactly")
  parser.add_argument('--bf16', action='store_true',
                      help='bfloat16 compute (GlobalConfig.bfloat16, the precision policy '
                           "predict's --bf16 uses); parameters, optimiser state and losses stay "
                           'float32 (presets on the AF2 model: nano_ipa*, af2_*)')
  parser.add_argument('--model-set', action='append', default=[], metavar='FIELD=VALUE',
                      help='override a model config field, losses included (as predict\'s '
                           '--model-set, e.g. peptide_geometry_weight=20); presets on the AF2 '
                           'model; repeatable')
  parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
  distributed.add_flags(parser)


def model_overrides(args) -> Optional[Dict[str, Any]]:
  """model_config overrides from --bf16 and --model-set (None when there are none)."""
  from alphafold_jax.cli.predict_models import parse_model_set  # pylint: disable=import-outside-toplevel
  overrides = {'bfloat16': True} if getattr(args, 'bf16', False) else {}
  overrides.update(parse_model_set(getattr(args, 'model_set', None) or []))
  return overrides or None


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


def check_out_dir(out: str) -> None:
  """TrainConfigError unless --out is a writable directory or can be created (nothing is
  created here)."""
  path = os.path.abspath(out)
  if os.path.exists(path) and not os.path.isdir(path):
    raise TrainConfigError(f'--out {out} exists and is not a directory')
  anchor = path
  while not os.path.exists(anchor):
    anchor = os.path.dirname(anchor)
  if not os.path.isdir(anchor):
    raise TrainConfigError(f'--out {out}: {anchor} is a file, not a directory')
  try:
    import tempfile  # pylint: disable=import-outside-toplevel
    fd, probe = tempfile.mkstemp(prefix='.write-probe-', dir=anchor)
    os.close(fd)
    os.remove(probe)
  except OSError as e:
    raise TrainConfigError(f'--out {out}: {anchor} is not writable ({e.strerror or e})') from None


def checkpoint_steps(out: str) -> list:
  """Finalised checkpoint steps in OUT/checkpoints, sorted (empty when none)."""
  root = os.path.join(out, 'checkpoints')
  if not os.path.isdir(root):
    return []
  return sorted(int(n) for n in os.listdir(root)
                if n.isdigit() and os.path.isfile(os.path.join(root, n, _FINALIZED_FILE)))


def check_resume(args: argparse.Namespace) -> Optional[int]:
  """The step training resumes from (None: from scratch); errors / notes on stderr."""
  steps = checkpoint_steps(args.out)
  root = os.path.join(args.out, 'checkpoints')
  if not args.resume:
    if steps:
      raise TrainConfigError(f'--out {args.out} already holds checkpoints up to step {steps[-1]} '
                             '(in checkpoints/); pass --resume to continue them, or use a new --out')
    return None
  if not steps:
    print(f'{PROG}: note: --resume: no checkpoint in {root}; starting from step 0',
          file=sys.stderr)
    return None
  if args.steps < steps[-1]:
    raise TrainConfigError(f'--steps {args.steps} is below step {steps[-1]} of the newest '
                           f'checkpoint in {root}; pass --steps > {steps[-1]} to train further '
                           '(or a new --out to start over)')
  if args.steps == steps[-1]:
    print(f'{PROG}: note: --resume: the checkpoint in {root} is already at step {steps[-1]} = '
          '--steps; nothing to train, evaluating it', file=sys.stderr)
  return steps[-1]


def _load_data(directory: str, flag: str):
  """Validated structures of a data directory; skipped files reported one line each."""
  from alphafold_jax.training import data as data_lib  # pylint: disable=import-outside-toplevel
  skipped = []

  def on_skip(path, reason):
    skipped.append(os.path.basename(path))
    print(f'{PROG}: warning: {flag}: skipping {path}: {reason}', file=sys.stderr)

  named = data_lib.load_structures(directory, on_skip=on_skip)
  if skipped:
    print(f'{PROG}: {flag}: using {len(named)} of {len(named) + len(skipped)} structure files '
          f'({len(skipped)} skipped)', file=sys.stderr)
  return named, skipped


def run(args: argparse.Namespace) -> int:
  """Executes `train`; returns the process exit code."""
  started = time.monotonic()
  if args.time_limit is not None and not args.time_limit > 0:
    raise TrainConfigError(f'--time-limit must be a positive number of minutes, '
                           f'got {args.time_limit}')
  if args.steps < 1:
    raise TrainConfigError(f'--steps must be >= 1, got {args.steps}')
  check_out_dir(args.out)
  check_resume(args)
  distributed.initialize(distributed.from_args(args))  # before any device use

  import jax  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training import data as data_lib  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training import presets, trainer  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.evaluation import Evaluator  # pylint: disable=import-outside-toplevel

  preset = presets.get_preset(args.preset, model_overrides(args))
  config = build_config(preset.train_config, args)
  if preset.batch_source is None and (config.distillation_dir or config.cluster_file):
    raise TrainConfigError(f'--set distillation_dir / cluster_file apply to the af2_* presets, '
                           f'not {preset.name}')
  named, skipped = _load_data(args.data, '--data')
  examples = preset.make_examples(named, seed=config.seed)  # crop + MSA processing per use
  val_named = named if args.val_data is None else _load_data(args.val_data, '--val-data')[0]
  evaluator = Evaluator(preset.predict_ca, preset.make_eval_examples(val_named), seed=config.seed)

  if preset.batch_source is not None:  # data read + validated before the init compile
    sampler = preset.batch_source(args.data, config)
    for dataset in getattr(sampler, 'datasets', ()):
      flag = '--data' if dataset is sampler.dataset else 'distillation_dir'
      for name, reason in getattr(dataset, 'skipped', None) or ():
        if not any(s.split('.')[0] == name for s in skipped):  # not already named by _load_data
          print(f'{PROG}: warning: {flag}: skipping entry {name}: {reason}', file=sys.stderr)
          skipped.append(name)
      if getattr(dataset, 'filtered', None):
        print(f'{PROG}: note: {flag}: AF2\'s training filters drop {len(dataset.filtered)} '
              f'chain(s): {", ".join(n for n, _ in dataset.filtered)}', file=sys.stderr)
  else:
    sampler = data_lib.DatasetSampler(examples, config.batch_size)

  init_rng = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)  # != the train-state key
  params = preset.init(init_rng, examples.example(0))
  if getattr(args, 'init_params', None):
    from alphafold_jax.training import checkpoints as ckpt_lib  # pylint: disable=import-outside-toplevel
    params = ckpt_lib.load_init_params(args.init_params, params)
  result = trainer.train(preset.loss_fn, params, sampler, config, out_dir=args.out,
                         resume=args.resume, evaluator=evaluator,
                         metadata={'preset': preset.name, 'data': os.path.abspath(args.data),
                                   'skipped_structures': skipped},
                         progress=not args.no_progress,
                         deadline=None if args.time_limit is None
                         else started + 60.0 * args.time_limit)
  means, rows = evaluator(trainer.weights(result.state))
  if jax.process_index() == 0:
    step = int(jax.device_get(result.state.step))
    from alphafold_jax.inference.outputs import json_safe  # pylint: disable=import-outside-toplevel
    with open(os.path.join(args.out, 'eval.json'), 'w') as f:
      json.dump(json_safe({'step': step, 'mean': means, 'structures': rows,
                           'skipped_structures': skipped}), f, indent=1, allow_nan=False)
    last = result.losses[max(result.losses)] if result.losses else float('nan')
    print(f'trained {preset.name} to step {step} (last loss {last:.4g}); outputs in {args.out}')
    for row in rows:
      print(f"  {row['name']:>8s}  CA-RMSD {row['ca_rmsd']:6.2f} A  lDDT-Ca {row['lddt_ca']:.3f}"
            f"  TM {row['tm_score']:.3f}")
  return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Standalone entry (python -m alphafold_jax.cli.train): the package CLI's `train`."""
  from alphafold_jax import cli  # pylint: disable=import-outside-toplevel
  return cli.main(['train', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
  sys.exit(main())
