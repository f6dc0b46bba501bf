"""Benchmark: can the input pipeline feed tiny_af2_initial? Loader examples/s vs train-step time.

Command (from the repo root; ~2-3 min on the 2-core box, mostly the train-step compile):
  JAX_COMPILATION_CACHE_DIR=~/.cache/alphafold_jax/jax_cache \\
    python experiments/benchmarks/loader_throughput.py [--batches 12] [--workers 0,1,2] \\
    [--prefetch 2] [--train-steps 6] [--log-steps 16]

Data: the shared structure + MSA pairs 102M (myoglobin), 1EGF (EGF), 1XNB (xylanase) laid out
as the af2_* presets read them (tests/training/test_af2_recipe.make_data_dir: MSAs in
<stem>/, 102M with a template folder), sampled with AF2's filters and weights
(presets.recipe_sampler); every example re-reads and re-parses its MSA files, aligns the MSA
query to the chain, crops (32) and processes the MSA (tiny sizes: 6 clusters, 5 extra rows).

Measured:
  1. featurisation throughput of training/loader.Loader, batch 1: 0 workers (in the process,
     what the trainer does with loader_workers=0), 1 and 2 worker processes (grain); the first
     batch (worker start-up) is timed apart, the batches buffered meanwhile are drained, then
     `--batches` batches are timed (steady state);
  2. the tiny_af2_initial train step (the preset's tiny widths, compiled once, then
     `--train-steps` steps on pre-built batches, each waited for);
  3. the trainer's own log: `--log-steps` steps of Trainer.fit with loader_workers = 0 and 2,
     mean data_wait_s and device_idle_fraction of the steps after the first (the workers
     start at step 1; their prefetch buffers, workers x prefetch batches, then fill while the
     first steps run, so short runs flatter the loader).
On a loaded machine each process gets its own share of the cores: worker processes can then
beat the in-process loader even with one worker (more CPU shares, not a faster loader).
Prints a Markdown table (README.md of this folder has the latest one).
"""

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def loader_rate(sampler, workers: int, prefetch: int, batches: int):
  """(start-up s, examples/s over `batches` batches): the first batch is the start-up; then
  workers x (prefetch + 1) batches drain what the workers buffered meanwhile, untimed, so the
  rate is the steady production rate."""
  from alphafold_jax.training.loader import Loader  # pylint: disable=import-outside-toplevel
  with Loader(sampler, num_workers=workers, prefetch_depth=prefetch) as loader:
    it = loader.iterate(0)
    began = time.perf_counter()
    first = next(it)
    startup = time.perf_counter() - began
    for _ in range(workers * (prefetch + 1)):
      next(it)
    began = time.perf_counter()
    for _ in range(batches):
      next(it)
    elapsed = time.perf_counter() - began
  per_batch = len(next(iter(first.values())))
  return startup, batches * per_batch / elapsed


def train_step_time(preset, sampler, config, steps: int):
  """(compile + first step s, median step s) of the preset's train step, batches pre-built."""
  import jax  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training import sharding  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.trainer import Trainer  # pylint: disable=import-outside-toplevel
  batches = [sampler(step) for step in range(steps + 1)]
  params = preset.init(jax.random.PRNGKey(0), jax.tree.map(lambda x: x[0], batches[0]))
  trainer = Trainer(preset.loss_fn, config)
  state = trainer.init_state(params)
  times = []
  for batch in batches:
    placed = sharding.shard_batch(batch, trainer.mesh, config.data_axis)
    began = time.perf_counter()
    state, metrics = trainer.step_fn(state, placed)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - began)
  return trainer, params, times[0], statistics.median(times[1:])


def logged_idle(trainer, params, sampler, workers: int, prefetch: int, steps: int,
                out: pathlib.Path):
  """Mean data_wait_s and device_idle_fraction of the trainer's log, steps 2.. (step 1 also
  starts the workers)."""
  from alphafold_jax.training import logging as log_lib  # pylint: disable=import-outside-toplevel
  trainer.config = trainer.config.replace(loader_workers=workers, prefetch_depth=prefetch,
                                          num_steps=steps)
  trainer.fit(params, sampler, out_dir=out, progress=False)
  records = [r for r in log_lib.read_jsonl(out / 'metrics.jsonl') if r['kind'] == 'train'][1:]
  return (statistics.mean(r['data_wait_s'] for r in records),
          statistics.mean(r['device_idle_fraction'] for r in records))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--batches', type=int, default=12)
  parser.add_argument('--workers', default='0,1,2')
  parser.add_argument('--prefetch', type=int, default=2)
  parser.add_argument('--train-steps', type=int, default=6)
  parser.add_argument('--log-steps', type=int, default=16)
  args = parser.parse_args()

  from alphafold_jax.training import compilation, presets  # pylint: disable=import-outside-toplevel
  from tests.training.test_af2_recipe import make_data_dir  # pylint: disable=import-outside-toplevel
  if os.environ.get('JAX_COMPILATION_CACHE_DIR'):
    compilation.enable_compilation_cache(os.environ['JAX_COMPILATION_CACHE_DIR'])
  load = os.getloadavg()[0]
  with tempfile.TemporaryDirectory() as tmp:
    data = make_data_dir(pathlib.Path(tmp) / 'data')
    preset = presets.get_preset('tiny_af2_initial')
    config = preset.train_config.replace(num_steps=args.train_steps, checkpoint_every=0)
    sampler = preset.batch_source(str(data), config)
    rows = []
    for workers in (int(w) for w in args.workers.split(',')):
      startup, rate = loader_rate(sampler, workers, args.prefetch, args.batches)
      rows.append((workers, startup, rate))
      print(f'workers {workers}: start-up {startup:.2f} s, {rate:.2f} examples/s', flush=True)
    trainer, params, first, step = train_step_time(preset, sampler, config, args.train_steps)
    print(f'train step: first (compile) {first:.1f} s, median {step:.3f} s', flush=True)
    idle = {w: logged_idle(trainer, params, sampler, w, args.prefetch, args.log_steps,
                           pathlib.Path(tmp) / f'run{w}') for w in (0, 2)}
  print(f'\nload average at start {load:.1f}, at end {os.getloadavg()[0]:.1f}\n')
  print('| loader workers | start-up (s) | examples/s | s/example | train step (s) | '
        'loader / step |')
  print('|---|---|---|---|---|---|')
  for workers, startup, rate in rows:
    print(f'| {workers} | {startup:.2f} | {rate:.2f} | {1 / rate:.3f} | {step:.3f} | '
          f'{1 / rate / step:.2f} |')
  print(f'\nTrainer.fit, {args.log_steps} steps (means of steps 2..{args.log_steps}):\n')
  print('| trainer loader_workers | mean data_wait_s | mean device_idle_fraction |')
  print('|---|---|---|')
  for workers, (wait, fraction) in idle.items():
    print(f'| {workers} | {wait:.3f} | {fraction:.2f} |')


if __name__ == '__main__':
  main()
