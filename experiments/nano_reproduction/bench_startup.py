"""Start-up and step-time benchmark of a training preset on the nano proteins (CPU).

    python experiments/nano_reproduction/bench_startup.py --preset nano_diffusion --steps 5

Prints (seconds): building the examples, parameter init, the first train step (XLA compile +
one step), the mean of the following steps, and the evaluator's first (compile) and second
call over all validation structures. Nothing is written to disk. Expected runtime on the
2-core CPU box: ~2-3 min for nano_diffusion, ~4-7 min for nano_ipa (compile-bound).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from alphafold_jax.training import data as data_lib  # pylint: disable=g-import-not-at-top
from alphafold_jax.training import presets  # pylint: disable=g-import-not-at-top
from alphafold_jax.training.evaluation import Evaluator  # pylint: disable=g-import-not-at-top
from alphafold_jax.training.trainer import Trainer  # pylint: disable=g-import-not-at-top

NANO = os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'data', 'structures', 'nano')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--preset', default='nano_diffusion')
  parser.add_argument('--data', default=NANO)
  parser.add_argument('--steps', type=int, default=5, help='timed steps after the first')
  parser.add_argument('--no-eval', action='store_true')
  args = parser.parse_args(argv)

  times = {}
  t0 = time.perf_counter()
  preset = presets.get_preset(args.preset)
  named = data_lib.load_structures(args.data)
  examples = preset.make_examples(named)  # built afresh (crop, MSA processing) on every use
  times['examples_s'] = time.perf_counter() - t0

  t0 = time.perf_counter()
  params = preset.init(jax.random.PRNGKey(1), examples.example(0))
  jax.block_until_ready(params)
  times['init_s'] = time.perf_counter() - t0

  config = preset.train_config.replace(num_steps=1 + args.steps, checkpoint_every=0)
  trainer = Trainer(preset.loss_fn, config)
  sampler = data_lib.DatasetSampler(examples, config.batch_size)
  step_times = []
  losses = []

  def on_step(step, metrics):
    step_times.append(time.perf_counter())
    losses.append(float(metrics['loss']))

  t0 = time.perf_counter()
  trainer.fit(params, sampler, progress=False, on_step=on_step)
  times['first_step_s'] = step_times[0] - t0
  if len(step_times) > 1:
    times['step_s'] = float(np.mean(np.diff(step_times)))
  times['losses'] = losses

  if not args.no_eval:
    evaluator = Evaluator(preset.predict_ca, preset.make_eval_examples(named))
    t0 = time.perf_counter()
    means, _ = evaluator(params)
    times['eval_first_s'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluator(params)
    times['eval_second_s'] = time.perf_counter() - t0
    times['eval_ca_rmsd'] = means['ca_rmsd']
  times['num_params'] = int(sum(x.size for x in jax.tree.leaves(params)))
  times['preset'] = args.preset
  print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in times.items()}))
  return 0


if __name__ == '__main__':
  sys.exit(main())
