"""Where the whole model's inference time goes: ours vs the oracle, per module, from XLA's trace.

    PYTHONPATH=. python experiments/benchmarks/whole_model_profile.py [--n-res 128]
        [--rounds 3] [--budgets 16,2] [--out experiments/benchmarks/results/FILE.json]

The trunk benchmark's whole-model case (`bench_cases.whole_model_case`: model_1_ptm widths,
2 Evoformer + 1 extra-MSA block, 2 template-pair blocks, 4 templates, 508 + 4 MSA rows,
5120 extra rows, 0 recycles, the oracle's own feature pipeline, same random parameters on
both sides): ours under `auto_chunking` (what `predict` runs) and the oracle
(alphafold-colabfold, subbatch 4, fp32, unfused projections), compiled in ONE process.

1. timing: `--rounds` interleaved rounds (ours, oracle, ours, ...), median wall time each;
2. profile: one more call of each under `jax.profiler.trace`; every XLA:CPU thunk event
   (`hlo_op`) is matched to its HLO instruction's `op_name` metadata (the Haiku module
   path in the name stack) and its time summed per module: embeddings, template stack,
   extra-MSA stack and Evoformer sub-layers, structure module, heads.
Prints a table (ms per module, ours/oracle) and writes the raw rows to --out.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import pathlib
import re
import statistics
import sys
import tempfile
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(HERE)]

# pylint: disable=wrong-import-position
import bench_cases
import trunk_benchmark

SUBLAYERS = ('msa_row_attention_with_pair_bias', 'msa_column_global_attention',
             'msa_column_attention', 'msa_transition', 'outer_product_mean',
             'triangle_multiplication_outgoing', 'triangle_multiplication_incoming',
             'triangle_attention_starting_node', 'triangle_attention_ending_node',
             'pair_transition')
STACKS = ('template_embedding', 'extra_msa_stack', 'evoformer_iteration')
HEADS = ('predicted_lddt_head', 'distogram_head', 'predicted_aligned_error_head',
         'masked_msa_head', 'experimentally_resolved_head')
_INSTR = re.compile(r'^\s*(?:ROOT )?%?([\w.\-]+) = .*?metadata=\{[^}]*op_name="([^"]*)"')


def category(op_name: str) -> str:
  """Module of an HLO instruction from its op_name (the Haiku name stack)."""
  for stack in STACKS:
    if stack in op_name:
      for sub in SUBLAYERS:
        if sub in op_name:
          return f'{stack}/{sub}'
      return f'{stack}/other'
  if 'structure_module' in op_name:
    return 'structure_module/ipa' if 'invariant_point_attention' in op_name else \
        'structure_module/other'
  for head in HEADS:
    if head in op_name:
      return f'heads/{head}'
  return 'embeddings+other'


def op_names(compiled) -> dict:
  names = {}
  for text in [compiled.as_text()]:
    for line in text.splitlines():
      m = _INSTR.match(line)
      if m:
        names[m.group(1)] = m.group(2)
  return names


def profile_ms(fn, args, names: dict) -> dict:
  """ms per category of one call of the compiled `fn`, from the profiler's thunk events."""
  with tempfile.TemporaryDirectory() as tmp:
    with jax.profiler.trace(tmp):
      jax.block_until_ready(fn(*args))
    (trace,) = glob.glob(os.path.join(tmp, '**', '*.trace.json.gz'), recursive=True)
    with gzip.open(trace) as f:
      events = json.load(f)['traceEvents']
  per = collections.Counter()
  unmatched = 0.
  for e in events:
    op = e.get('args', {}).get('hlo_op')
    if e.get('ph') != 'X' or op is None:
      continue
    if op.startswith(('while', 'conditional', 'call')):
      continue  # their bodies' thunks are events of their own
    if op in names:
      per[category(names[op])] += e['dur'] / 1e3
    else:
      unmatched += e['dur'] / 1e3
  per['(no metadata)'] += unmatched
  return dict(per)


def _case(impl: str, features):
  """bench_cases.whole_model_case; 'ours_auto@B' = ours under auto_chunking with B MiB."""
  if not impl.startswith('ours_auto@'):
    return bench_cases.whole_model_case(impl, features, 4)
  return bench_cases.whole_model_case('ours_auto', features, 4,
                                      auto_budget_mib=float(impl.split('@')[1]))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--n-res', type=int, default=128)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--budgets', default='16',
                      help='auto_chunking budgets (MiB) to run ours with, e.g. 16,2')
  parser.add_argument('--out', default=None)
  args = parser.parse_args(argv)
  tmp = pathlib.Path(tempfile.mkdtemp())
  trunk_benchmark.make_whole_features(args.n_res, 508, 5120, tmp / 'f.npz')
  with np.load(tmp / 'f.npz') as f:
    features = {k: f[k] for k in f.files}
  key = jax.random.PRNGKey(0)
  runs = {}
  impls = [f'ours_auto@{b}' for b in args.budgets.split(',')] + ['oracle']
  for impl in impls:
    transformed, fargs = _case(impl, features)
    shapes = jax.eval_shape(transformed.init, key, *fargs)
    params = bench_cases.random_params(shapes, 0)
    fn = jax.jit(lambda p, *a, t=transformed: t.apply(p, key, *a))
    t0 = time.perf_counter()
    compiled = fn.lower(params, *fargs).compile()
    print(f'{impl}: compiled in {time.perf_counter() - t0:.1f} s', flush=True)
    out = jax.block_until_ready(compiled(params, *fargs))
    runs[impl] = {'fn': compiled, 'args': (params, *fargs), 'names': op_names(compiled),
                  'out': out, 'times': []}
  first = impls[0]
  diff = float(np.max(np.abs(np.asarray(runs[first]['out'][0])
                             - np.asarray(runs['oracle']['out'][0]))))
  for _ in range(args.rounds):
    for run in runs.values():
      t0 = time.perf_counter()
      jax.block_until_ready(run['fn'](*run['args']))
      run['times'].append(time.perf_counter() - t0)
  result = {'n_res': args.n_res, 'max_abs_atom_diff': diff, 'load_average': os.getloadavg(),
            'median_s': {k: statistics.median(r['times']) for k, r in runs.items()},
            'times_s': {k: r['times'] for k, r in runs.items()},
            'profile_ms': {k: profile_ms(r['fn'], r['args'], r['names'])
                           for k, r in runs.items()}}
  oracle = result['profile_ms']['oracle']
  for impl in impls[:-1]:
    ours = result['profile_ms'][impl]
    print(f"L={args.n_res}: {impl} {result['median_s'][impl]:.3f} s, oracle "
          f"{result['median_s']['oracle']:.3f} s, ratio "
          f"{result['median_s'][impl] / result['median_s']['oracle']:.3f} "
          f"(max |atoms diff| {diff:.2e} A)")
    print(f"{'module':60s} {'ours ms':>9s} {'oracle ms':>9s} {'ratio':>6s}")
    for cat in sorted(set(ours) | set(oracle), key=lambda c: -oracle.get(c, 0.)):
      a, b = ours.get(cat, 0.), oracle.get(cat, 0.)
      print(f'{cat:60s} {a:9.1f} {b:9.1f} {a / b if b else float("nan"):6.2f}')
    print(f"{'sum of thunks':60s} {sum(ours.values()):9.1f} {sum(oracle.values()):9.1f}")
  if args.out:
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1))
  return 0


if __name__ == '__main__':
  sys.exit(main())
