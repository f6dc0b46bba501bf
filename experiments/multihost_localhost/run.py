"""Multi-host data parallelism on one machine: 2 JAX processes on localhost, CPU backend.

Command (from the repo root):
    python experiments/multihost_localhost/run.py [--devices-per-process 2] [--steps 3]
Expected runtime: ~1 minute on 2 CPU cores. Expected result: "cross-process collectives:
OK" and the 2-process data-parallel losses equal to the single-process ones (<= 1e-5).

What it does: the launcher starts 2 worker processes. Each calls
`training.distributed.initialize` (here through the ALPHAFOLD_JAX_* environment variables,
coordinator 127.0.0.1:<free port>), so the global mesh spans 2 x devices-per-process CPU
devices. Each worker then
  1. checks a cross-process all-reduce (jit of a sum over a globally sharded array),
  2. runs `steps` data-parallel train steps of the tiny_ca preset on the global mesh,
  3. runs the same steps on a 1-device mesh of its own (no communication),
and prints both loss sequences; the launcher compares them.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def worker(steps: int) -> None:
  sys.path.insert(0, str(ROOT))
  from alphafold_jax.training import distributed  # pylint: disable=import-outside-toplevel
  distributed.initialize(distributed.resolve())  # from ALPHAFOLD_JAX_* env

  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from alphafold_jax.common import protein as protein_lib  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training import presets, sharding  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.config import TrainConfig  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.data import ExampleSampler  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.optimizer import make_optimizer  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.state import create_train_state  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.train_step import jit_train_step, make_train_step  # pylint: disable=import-outside-toplevel

  pid = jax.process_index()
  report = {'process': pid, 'process_count': jax.process_count(),
            'global_devices': jax.device_count(), 'local_devices': jax.local_device_count()}

  # 1. Cross-process all-reduce.
  mesh = sharding.make_mesh('data')
  n = jax.device_count()
  x = sharding.shard_batch({'x': np.arange(n * 3, dtype=np.float32).reshape(n, 3)}, mesh)['x']
  total = jax.jit(lambda a: jnp.sum(a), out_shardings=sharding.replicated(mesh))(x)
  report['allreduce'] = float(total.addressable_data(0))
  report['allreduce_expected'] = float(np.arange(n * 3).sum())

  # 2./3. Data-parallel train steps: global mesh vs a private 1-device mesh.
  nano = ROOT / 'tests/data/structures/nano'
  named = [(k, protein_lib.from_file(nano / f'{k}.pdb')) for k in ('1L2Y', '1VII', '1CRN', '2GB1')]
  built = presets.training_examples(named, 16, None)
  examples = [built.example(i) for i in range(len(built))]
  preset = presets.get_preset('tiny_ca')
  config = TrainConfig(batch_size=n, warmup_steps=0, learning_rate=1e-2, max_recycle=2)
  sampler = ExampleSampler(examples, config.batch_size, seed=0)
  params = preset.init(jax.random.PRNGKey(0), examples[0])
  opt = make_optimizer(config)
  for name, m in (('global', mesh), ('local1', sharding.make_mesh('data', jax.local_devices()[:1]))):
    state = sharding.replicate(create_train_state(params, opt, jax.random.PRNGKey(1)), m)
    step = jit_train_step(make_train_step(preset.loss_fn, opt, config), m, 'data')
    losses = []
    for s in range(steps):
      state, metrics = step(state, sharding.shard_batch(sampler(s), m, 'data'))
      losses.append(float(metrics['loss'].addressable_data(0)))
    report[f'losses_{name}'] = losses
  print('REPORT ' + json.dumps(report), flush=True)
  jax.distributed.shutdown()


def launch(num_processes: int, devices_per_process: int, steps: int) -> int:
  port = _free_port()
  procs = []
  t0 = time.time()
  for pid in range(num_processes):
    env = dict(os.environ)
    env.update({'ALPHAFOLD_JAX_COORDINATOR': f'127.0.0.1:{port}',
                'ALPHAFOLD_JAX_NUM_PROCESSES': str(num_processes),
                'ALPHAFOLD_JAX_PROCESS_ID': str(pid), 'JAX_PLATFORMS': 'cpu',
                'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices_per_process}',
                'PYTHONPATH': str(ROOT)})
    procs.append(subprocess.Popen([sys.executable, __file__, '--worker', '--steps', str(steps)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True))
  reports, ok = [], True
  for pid, p in enumerate(procs):
    try:
      out, err = p.communicate(timeout=600)
    except subprocess.TimeoutExpired:
      p.kill()
      out, err = p.communicate()
      print(f'process {pid} timed out')
    lines = [l for l in out.splitlines() if l.startswith('REPORT ')]
    if p.returncode != 0 or not lines:
      ok = False
      print(f'process {pid} failed (exit {p.returncode}):\n{err[-3000:]}')
      continue
    reports.append(json.loads(lines[-1][len('REPORT '):]))
  for r in reports:
    print(json.dumps(r))
  if ok and reports:
    allreduce_ok = all(abs(r['allreduce'] - r['allreduce_expected']) < 1e-3 for r in reports)
    diff = max(abs(a - b) for r in reports for a, b in zip(r['losses_global'], r['losses_local1']))
    same_everywhere = len({json.dumps(r['losses_global']) for r in reports}) == 1
    print(f"cross-process collectives: {'OK' if allreduce_ok else 'WRONG'} "
          f"({reports[0]['process_count']} processes, {reports[0]['global_devices']} devices)")
    print(f'2-process data-parallel vs 1-device losses: max |diff| = {diff:.3g}; '
          f'identical on all processes: {same_everywhere}')
    ok = allreduce_ok and diff <= 1e-5 and same_everywhere
  print(f'wall time {time.time() - t0:.1f} s; {"PASS" if ok else "FAIL"}')
  return 0 if ok else 1


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--num-processes', type=int, default=2)
  parser.add_argument('--devices-per-process', type=int, default=2)
  parser.add_argument('--steps', type=int, default=3)
  args = parser.parse_args()
  if args.worker:
    worker(args.steps)
    return 0
  return launch(args.num_processes, args.devices_per_process, args.steps)


if __name__ == '__main__':
  sys.exit(main())
