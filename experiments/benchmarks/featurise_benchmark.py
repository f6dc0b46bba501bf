"""Benchmark: featurise the 869-row myoglobin A3M into AF2 processed features on one CPU core.

Command (from the repo root):
  python experiments/benchmarks/featurise_benchmark.py [--repeats 5] [--model model_1_ptm]

What is timed (per repeat, after imports): read + `parse_a3m` of
tests/data/msa/myoglobin_102M_A/102m_A.a3m (869 rows, 154 residues), `make_raw_features`
(836 rows after de-duplication), and `process_features` with the AF2 model_1_ptm data config
(508 clusters, 5120 extra rows, 4 templates, 4 ensemble members = num_recycle + 1, all padded),
i.e. everything the model needs. The process is pinned to one core and BLAS to one thread.

Expected runtime: a few seconds. Target: <= 1 s per featurisation.
Result (2 shared, heavily loaded CPU cores, load average ~10, 2026-11-22): median wall
0.36 s, CPU time 0.30 s per featurisation (parse+raw 0.04 s, processing 0.26 s). For
comparison, the oracle's `np_example_to_features` (JAX-backed colabfold port) needs ~2 s on
the same input, mostly jit compilation on its first call.
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
  os.environ[_var] = '1'  # before numpy is imported

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import data_pipeline  # noqa: E402
from data_pipeline import parsers  # noqa: E402
from alphafold_jax.config import model_config  # noqa: E402
from data_pipeline.processed_features import process_features  # noqa: E402

A3M = ROOT / 'tests' / 'data' / 'msa' / 'myoglobin_102M_A' / '102m_A.a3m'


def featurise(model: str, seed: int):
  msa = parsers.parse_a3m(A3M.read_text())
  raw = data_pipeline.make_raw_features(msa.sequences[0], '102M_A', [msa])
  parsed = time.perf_counter(), time.process_time()
  features = process_features(raw, model_config(model).data, seed=seed)
  return raw, features, parsed


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--model', default='model_1_ptm')
  args = parser.parse_args()
  if hasattr(os, 'sched_setaffinity'):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
  walls, cpus, raw_walls = [], [], []
  for seed in range(args.repeats):
    wall0, cpu0 = time.perf_counter(), time.process_time()
    raw, features, (wall1, _) = featurise(args.model, seed)
    walls.append(time.perf_counter() - wall0)
    cpus.append(time.process_time() - cpu0)
    raw_walls.append(wall1 - wall0)
  print(f'MSA rows in file: {sum(1 for l in A3M.read_text().splitlines() if l.startswith(">"))}, '
        f'after de-duplication: {raw["msa"].shape[0]}, residues: {raw["msa"].shape[1]}')
  print('processed shapes:', {k: v.shape for k, v in features.items()
                              if k in ('msa_feat', 'extra_msa', 'template_aatype')})
  print(f'parse+raw   median wall {statistics.median(raw_walls):.3f} s')
  print(f'featurise   median wall {statistics.median(walls):.3f} s '
        f'(min {min(walls):.3f}), median CPU {statistics.median(cpus):.3f} s '
        f'over {args.repeats} repeats')
  print('PASS' if statistics.median(walls) <= 1.0 else 'FAIL', '(target <= 1 s)')


if __name__ == '__main__':
  main()
