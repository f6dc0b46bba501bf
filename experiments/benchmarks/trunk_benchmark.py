"""Benchmark: our AF2 trunk vs the oracle (alphafold-colabfold), same shapes, fp32, one run.

Command (from the repo root):
  /work/venv/bin/python experiments/benchmarks/trunk_benchmark.py            # full (issue 10)
  /work/venv/bin/python experiments/benchmarks/trunk_benchmark.py --quick    # smallest shapes
  options: --evo 32x64,64x128 --sm 64 --whole 64 --kinds fwd,fwd+bwd --repeats 5
           --case-timeout 180 --fit-lengths 512,1024,1536 --only ours|oracle --out-dir DIR
           --variants ours_auto,ours_lowmem (default both; '' = none) --lowmem-compile-only

What is measured (every case once for ours, then once for the oracle, each in a FRESH worker
process so that peak RSS and the allocator start clean):
  - Evoformer iteration (model_1_ptm widths c_m 256, c_z 128) forward and forward+backward
    (value_and_grad of sum(sin(outputs)) w.r.t. all parameters), (N_seq, L) in
    {(32,64), (64,128), (128,256)};
  - structure module forward (8 layers, model_1_ptm) at L in {64, 128, 256};
  - whole model forward (model_1_ptm: 2 Evoformer + 1 extra-MSA + 2 template-pair blocks,
    0 recycles) at L in {64, 128} on AF2 eval-padded features (508 MSA clusters, 5120 extra
    rows, 4 templates; set by --whole-clusters/--whole-extra) made once by the ORACLE's own
    input pipeline from a random 600-row MSA, so both models read identical arrays;
  - per case: compile time, warm-up, median of --repeats timed runs (fewer if the case would
    pass --case-timeout; a worker past the timeout is killed and the case marked skipped),
    XLA temp/argument/output bytes (`compiled.memory_analysis()`), FLOPs
    (`compiled.cost_analysis()`), achieved GFLOP/s, peak RSS of the worker (VmHWM, which
    includes ~0.2 GiB of Python/JAX import baseline: `rss_start_mib`), finiteness, and
    max |ours - oracle| of the outputs (forward: all outputs; fwd+bwd: the loss) on identical
    random parameters (same names and shapes, asserted by a shape-tree signature);
  - the fp32 matmul ceiling (jitted 4096^3 matmul, GFLOP/s) before and after the cases;
  - optional (--fit-lengths): compile-only XLA temp size of one Evoformer forward at
    N_seq=128 and the given L, for "the longest L that fits in 24 GiB". The worker still builds
    the real inputs (pair tensor 0.5 KiB * L^2): keep L <= 2048 on a 23 GiB shared machine.
  - `uptime` load average before every worker (the machine is shared: judge noise by it).
  - our memory-policy variants (alphafold_jax/ops/memory_policy.py; --variants), each in its
    own worker after ours and the oracle: `ours_auto` (Evoformer and whole model: inference
    chunks sized from a 16 MiB per-chunk budget instead of 4 rows) and `ours_lowmem`
    (Evoformer fwd+bwd only: the training graph under `low_memory_training`, i.e. 64 MiB
    checkpointed chunks and every sub-layer recomputed in the backward pass); a second table
    puts them beside ours and the oracle at subbatch 4, with XLA temp sizes.
Both sides: fp32 (oracle bfloat16=False), deterministic, subbatch_size --subbatch (4 = the
issue's reference setting), unfused triangle-multiplication weights, default XLA CPU threading.

Outputs: a table on stdout, and results.json + results.md in --out-dir
(default experiments/benchmarks/results/).

Expected runtime (2 cores, about one of them taken by other jobs): --quick ~5 min; the full
set ~23 min plus ~1 min per --fit-lengths entry.
Result (2026-11-22, loaded machine, full table in experiments/benchmarks/README.md), ours/oracle
median time: Evoformer fwd 1.28 / 1.09 / 1.41 and fwd+bwd 0.82 / 0.89 / 0.88 at
(32,64)/(64,128)/(128,256); structure module 0.92 / 0.52 / 0.46 at L 64/128/256; whole model
1.08 / 0.97 at L 64/128; fwd+bwd XLA temp at (128,256) 6.03 GiB ours vs 7.76 GiB oracle;
matmul ceiling 65 GFLOP/s (one effective core); outputs bit-identical for the Evoformer block.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
for _p in (str(ROOT), str(HERE)):
  if _p not in sys.path:
    sys.path.insert(0, _p)

GIB = 1024 ** 3
OUR_VARIANTS = ('ours_auto', 'ours_lowmem')  # = bench_cases.OUR_VARIANTS (no jax import here)
FULL_EVO = ((32, 64), (64, 128), (128, 256))
FULL_SM = (64, 128, 256)
FULL_WHOLE = (64, 128)
REFERENCE_S = {  # issue 10's reference times (oracle on these machines, fp32, subbatch 4)
    ('evoformer', 'fwd', '32x64'): 0.088, ('evoformer', 'fwd', '64x128'): 0.39,
    ('evoformer', 'fwd', '128x256'): 1.97, ('evoformer', 'fwd+bwd', '64x128'): 2.1,
    ('evoformer', 'fwd+bwd', '128x256'): 17.5, ('structure_module', 'fwd', '256'): 0.39,
    ('whole_model', 'fwd', '128'): 6.05,
}


def _shapes(text, pair):
  if not text:
    return ()
  items = [t.strip() for t in text.split(',') if t.strip()]
  if pair:
    return tuple(tuple(int(v) for v in t.lower().split('x')) for t in items)
  return tuple(int(t) for t in items)


def load_average() -> str:
  try:
    return ' '.join(pathlib.Path('/proc/loadavg').read_text().split()[:3])
  except OSError:
    return 'n/a'


def machine_facts() -> dict:
  import jax
  import jaxlib
  cpu = 'unknown'
  try:
    for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
      if line.startswith('model name'):
        cpu = line.split(':', 1)[1].strip()
        break
  except OSError:
    pass
  try:
    import importlib.metadata as md
    oracle_version = md.version('alphafold-colabfold')
  except Exception:  # noqa: BLE001
    oracle_version = 'unknown'
  return {'nproc': os.cpu_count(), 'affinity': len(os.sched_getaffinity(0)), 'cpu': cpu,
          'python': platform.python_version(), 'jax': jax.__version__,
          'jaxlib': jaxlib.__version__, 'devices': [str(d) for d in jax.devices()],
          'alphafold-colabfold': oracle_version,
          'date_utc': datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')}


# ----------------------------------------------------------------------------- features


def make_whole_features(n_res, n_clusters, n_extra, path, seed=0):
  """AF2 eval features (one ensemble member) from the oracle pipeline, saved as npz."""
  import numpy as np
  import data_pipeline
  from data_pipeline.parsers import Msa
  from alphafold.model import features as oracle_features
  from alphafold.common import residue_constants as orc
  from bench_cases import oracle_config

  rng = np.random.default_rng(seed)
  letters = np.array(list('ACDEFGHIKLMNPQRSTVWY'))
  seq = ''.join(rng.choice(letters, n_res))
  rows = [seq]
  for _ in range(599):  # homolog-like rows: 30 % substitutions or gaps
    row = np.array(list(seq))
    sub = rng.random(n_res) < 0.3
    row[sub] = rng.choice(list('ACDEFGHIKLMNPQRSTVWY-'), sub.sum())
    rows.append(''.join(row))
  deletions = [[0] * n_res] + [list(rng.integers(0, 3, n_res) * (rng.random(n_res) < 0.1))
                               for _ in rows[1:]]
  msa = Msa(sequences=rows, deletion_matrix=deletions,
            descriptions=[f's{i}' for i in range(len(rows))])
  raw = data_pipeline.make_raw_features(seq, 'bench', [msa])
  t = 4
  aatype = np.array([orc.restype_order[c] for c in seq])
  hh_of_ours = np.argsort(np.array(orc.MAP_HHBLITS_AATYPE_TO_OUR_AATYPE)[:21])
  ca = np.cumsum(rng.normal(0, 2.2, (n_res, 3)), axis=0)  # a random walk of CA-like positions
  pos = ca[None, :, None, :] + rng.normal(0, 1.5, (t, n_res, 37, 3))
  mask = np.stack([np.asarray(orc.restype_atom37_mask)[aatype]] * t)
  raw.update({
      'template_aatype': np.stack([np.eye(22)[hh_of_ours[aatype]]] * t).astype(np.float32),
      'template_all_atom_positions': pos.astype(np.float32),
      'template_all_atom_masks': mask.astype(np.float32),
      'template_sum_probs': np.ones((t, 1), np.float32),
      'template_domain_names': np.array([f't{i}'.encode() for i in range(t)], dtype=object),
  })
  cfg = oracle_config(4)
  cfg.data.common.num_recycle = 0
  cfg.data.common.max_extra_msa = n_extra
  cfg.data.eval.max_msa_clusters = n_clusters + cfg.data.eval.max_templates
  feats = oracle_features.np_example_to_features(raw, cfg, random_seed=seed)
  arrays = {k: np.asarray(v) for k, v in feats.items()
            if np.asarray(v).dtype != object and np.asarray(v).dtype.kind != 'S'}
  np.savez(path, **arrays)
  return {k: list(v.shape) for k, v in arrays.items()
          if k in ('msa_feat', 'extra_msa', 'template_aatype', 'aatype')}


# ----------------------------------------------------------------------------- workers


def run_worker(spec: dict, timeout: float) -> dict:
  """Runs one case in a fresh Python process; returns its record (or why it has none)."""
  cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), '--worker', json.dumps(spec)]
  load = load_average()
  t0 = time.perf_counter()
  try:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
  except subprocess.TimeoutExpired:
    return {'status': f'skipped: worker ran past {timeout:.0f} s', 'load_before': load,
            'wall_s': time.perf_counter() - t0}
  lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
  if proc.returncode != 0 or not lines:
    return {'status': f'failed (rc {proc.returncode}): {proc.stderr.strip()[-600:]}',
            'load_before': load, 'wall_s': time.perf_counter() - t0}
  rec = json.loads(lines[-1][len('RESULT '):])
  rec.update(status='ok', load_before=load, wall_s=time.perf_counter() - t0)
  return rec


def worker_main(spec_json: str) -> None:
  spec = json.loads(spec_json)
  from bench_cases import matmul_ceiling, run_case
  rec = matmul_ceiling(spec['size']) if spec['family'] == 'matmul' else run_case(spec)
  print('RESULT ' + json.dumps(rec), flush=True)


def max_abs_diff(path_a, path_b):
  import numpy as np
  if not (os.path.exists(path_a) and os.path.exists(path_b)):
    return None
  with np.load(path_a) as a, np.load(path_b) as b:
    if a.files != b.files:
      return None
    return float(max(np.max(np.abs(a[k] - b[k])) if a[k].size else 0.0 for k in a.files))


# ----------------------------------------------------------------------------- reporting


def _fmt(x, spec='{:.3f}'):
  return '-' if x is None else spec.format(x)


def _gib(b):
  return None if b is None else b / GIB


def table_rows(results):
  rows = []
  for r in results:
    o, t = r.get('ours', {}), r.get('oracle', {})
    om, tm = o.get('median_s'), t.get('median_s')
    # Evoformer: one common FLOP count for both sides (ours, unchunked, no while loops);
    # other families: each side's own XLA count (while-loop bodies counted once: a lower bound).
    common = o.get('flops_unchunked')
    flops = lambda rec: rec.get('flops_unchunked') or rec.get('flops')
    gf = lambda rec: ((common or rec.get('flops')) / rec['median_s'] / 1e9
                      if (common or rec.get('flops')) and rec.get('median_s') else None)
    rows.append([
        r['family'], r['kind'], r['shape'],
        _fmt(om), _fmt(tm), _fmt(om / tm if om and tm else None, '{:.2f}'),
        _fmt(REFERENCE_S.get((r['family'], r['kind'], r['shape'])), '{:.3g}'),
        f"{len(o.get('times_s', []))}/{len(t.get('times_s', []))}",
        f"{_fmt(o.get('compile_s'), '{:.0f}')}/{_fmt(t.get('compile_s'), '{:.0f}')}",
        f"{_fmt(_gib(o.get('temp_bytes')), '{:.2f}')}/{_fmt(_gib(t.get('temp_bytes')), '{:.2f}')}",
        f"{_fmt(o.get('peak_rss_mib'), '{:.0f}')}/{_fmt(t.get('peak_rss_mib'), '{:.0f}')}",
        f"{_fmt(flops(o) and flops(o) / 1e9, '{:.1f}')}/{_fmt(flops(t) and flops(t) / 1e9, '{:.1f}')}",
        f"{_fmt(gf(o), '{:.0f}')}/{_fmt(gf(t), '{:.0f}')}",
        _fmt(r.get('max_abs_diff'), '{:.1e}'),
        f"{str(o.get('load_before', '-')).split(' ')[0]}/{str(t.get('load_before', '-')).split(' ')[0]}",
        '; '.join(s for s in (o.get('status'), t.get('status')) if s and s != 'ok') or 'ok',
    ])
  return rows


HEADER = ['family', 'kind', 'shape', 'ours s', 'oracle s', 'ours/oracle', 'issue ref s',
          'runs o/r', 'compile s o/r', 'XLA temp GiB o/r', 'peak RSS MiB o/r',
          'XLA GFLOP o/r', 'GFLOP/s o/r', 'max abs diff', 'load o/r', 'status']


def markdown(results, facts, ceilings, fit, args) -> str:
  lines = [f"# Trunk benchmark ({facts['date_utc']})", '',
           f"Machine: {facts['nproc']} CPUs ({facts['affinity']} usable), {facts['cpu']}; "
           f"Python {facts['python']}, jax {facts['jax']}, jaxlib {facts['jaxlib']}, "
           f"alphafold-colabfold {facts['alphafold-colabfold']}; fp32, subbatch_size "
           f"{args.subbatch}, median of up to {args.repeats} runs after warm-up.", '',
           '| ' + ' | '.join(HEADER) + ' |', '|' + '---|' * len(HEADER)]
  lines += ['| ' + ' | '.join(map(str, row)) + ' |' for row in table_rows(results)]
  lines.append('')
  prows = policy_rows(results)
  if prows:
    lines += ['Memory policy (alphafold_jax/ops/memory_policy.py), Evoformer iteration and whole '
              'model: ours at subbatch 4 (AF2 default), ours with `auto_chunking` (chunks sized from a 16 MiB '
              'budget), the oracle at subbatch 4, and ours in training under '
              '`low_memory_training` (fwd+bwd only).', '',
              '| ' + ' | '.join(POLICY_HEADER) + ' |', '|' + '---|' * len(POLICY_HEADER)]
    lines += ['| ' + ' | '.join(map(str, row)) + ' |' for row in prows]
    lines.append('')
  for c in ceilings:
    lines.append(f"Matmul ceiling ({c.get('when')}): "
                 + (f"{c['gflops']:.0f} GFLOP/s median, {c['best_gflops']:.0f} best "
                    f"({c['size']}^3 fp32), load before {c.get('load_before')}"
                    if c.get('status') == 'ok' else c.get('status', '?')))
  if fit:
    lines += ['', '| Evoformer fwd N_seq=128, L | ours temp GiB | oracle temp GiB | '
              'ours args+out GiB | oracle args+out GiB |', '|---|---|---|---|---|']
    for f in fit:
      o, t = f.get('ours', {}), f.get('oracle', {})
      ao = lambda r: (_gib(r['argument_bytes'] + r['output_bytes'])
                      if r.get('argument_bytes') is not None else None)
      lines.append(f"| {f['n_res']} | {_fmt(_gib(o.get('temp_bytes')), '{:.2f}')} | "
                   f"{_fmt(_gib(t.get('temp_bytes')), '{:.2f}')} | {_fmt(ao(o), '{:.2f}')} | "
                   f"{_fmt(ao(t), '{:.2f}')} |")
  return '\n'.join(lines) + '\n'


POLICY_HEADER = ['family', 'kind', 'shape', 'ours sb4 s', 'ours auto s', 'oracle sb4 s', 'auto/oracle',
                 'sb4/oracle', 'ours lowmem s', 'XLA temp GiB sb4/auto/lowmem/oracle',
                 'peak RSS MiB sb4/auto/lowmem', 'max diff auto/lowmem vs ours']


def policy_rows(results):
  """Evoformer / whole-model rows: ours at subbatch 4, the auto policy, low-memory training."""
  rows = []
  for r in results:
    if r['family'] not in ('evoformer', 'whole_model') or not any(v in r for v in OUR_VARIANTS):
      continue
    o, t = r.get('ours', {}), r.get('oracle', {})
    a, lm = r.get('ours_auto', {}), r.get('ours_lowmem', {})
    ratio = lambda x, y: (_fmt(x['median_s'] / y['median_s'], '{:.2f}')
                          if x.get('median_s') and y.get('median_s') else '-')
    temp = lambda rec: _fmt(_gib(rec.get('temp_bytes')), '{:.2f}')
    rows.append([
        r['family'], r['kind'], r['shape'], _fmt(o.get('median_s')), _fmt(a.get('median_s')),
        _fmt(t.get('median_s')), ratio(a, t), ratio(o, t), _fmt(lm.get('median_s')),
        '/'.join(temp(x) for x in (o, a, lm, t)),
        '/'.join(_fmt(x.get('peak_rss_mib'), '{:.0f}') for x in (o, a, lm)),
        '/'.join(_fmt(x.get('max_abs_diff_vs_ours'), '{:.1e}') for x in (a, lm)),
    ])
  return rows


def print_table(results):
  rows = [HEADER] + table_rows(results)
  widths = [max(len(str(r[i])) for r in rows) for i in range(len(HEADER))]
  for row in rows:
    print('  '.join(str(c).ljust(w) for c, w in zip(row, widths)), flush=True)


# ----------------------------------------------------------------------------- main


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--worker', help=argparse.SUPPRESS)
  p.add_argument('--quick', action='store_true', help='smallest shapes only')
  p.add_argument('--evo', default=None, help='N_seqxL list, e.g. 32x64,64x128')
  p.add_argument('--sm', default=None, help='structure-module lengths, e.g. 64,128')
  p.add_argument('--whole', default=None, help='whole-model lengths, e.g. 64,128')
  p.add_argument('--whole-clusters', type=int, default=508)
  p.add_argument('--whole-extra', type=int, default=5120)
  p.add_argument('--kinds', default='fwd,fwd+bwd', help='Evoformer kinds')
  p.add_argument('--fit-lengths', default='', help='compile-only Evoformer fwd (N_seq 128) at L')
  p.add_argument('--repeats', type=int, default=5)
  p.add_argument('--subbatch', type=int, default=4)
  p.add_argument('--case-timeout', type=float, default=180.0)
  p.add_argument('--only', choices=('ours', 'oracle'), default=None)
  p.add_argument('--variants', default=','.join(OUR_VARIANTS),
                 help='our memory-policy variants run beside ours/oracle (Evoformer, whole model) '
                      '(ours_auto: budget-sized chunks; ours_lowmem: low-memory training, '
                      'fwd+bwd only); empty string = none')
  p.add_argument('--lowmem-compile-only', action='store_true',
                 help='ours_lowmem: XLA memory only, no timing')
  p.add_argument('--no-matmul', action='store_true')
  p.add_argument('--out-dir', default=str(HERE / 'results'))
  args = p.parse_args()
  if args.worker:
    worker_main(args.worker)
    return

  evo = _shapes(args.evo, True) if args.evo is not None else (FULL_EVO[:1] if args.quick else FULL_EVO)
  sm = _shapes(args.sm, False) if args.sm is not None else (FULL_SM[:1] if args.quick else FULL_SM)
  whole = (_shapes(args.whole, False) if args.whole is not None
           else (FULL_WHOLE[:1] if args.quick else FULL_WHOLE))
  kinds = [k for k in args.kinds.split(',') if k]
  impls = [args.only] if args.only else ['ours', 'oracle']
  variants = [v for v in args.variants.split(',') if v]
  unknown = set(variants) - set(OUR_VARIANTS)
  if unknown:
    p.error(f'unknown --variants {sorted(unknown)}; choose from {OUR_VARIANTS}')
  out_dir = pathlib.Path(args.out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix='trunk_bench_'))
  facts = machine_facts()
  print(json.dumps(facts), flush=True)
  budget = max(10.0, args.case_timeout - 15.0)  # the worker stops timing runs before the kill

  ceilings = []
  if not args.no_matmul:
    c = run_worker({'family': 'matmul', 'size': 4096}, args.case_timeout)
    c['when'] = 'before the cases'
    ceilings.append(c)
    print('matmul ceiling:', json.dumps(c), flush=True)

  cases = []
  for n_seq, n_res in evo:
    for kind in kinds:
      cases.append({'family': 'evoformer', 'kind': kind, 'n_seq': n_seq, 'n_res': n_res,
                    'shape': f'{n_seq}x{n_res}'})
  cases += [{'family': 'structure_module', 'kind': 'fwd', 'n_res': n, 'shape': str(n)} for n in sm]
  for n in whole:
    path = tmp / f'whole_{n}.npz'
    t0 = time.perf_counter()
    shapes = make_whole_features(n, args.whole_clusters, args.whole_extra, path)
    print(f'whole-model features L={n}: {shapes} ({time.perf_counter() - t0:.1f} s)', flush=True)
    cases.append({'family': 'whole_model', 'kind': 'fwd', 'n_res': n, 'shape': str(n),
                  'features': str(path), 'feature_shapes': shapes})

  results, fit = [], []

  def save():  # after every case, so an interrupted run keeps what it measured
    out = {'machine': facts, 'args': vars(args), 'matmul_ceiling': ceilings, 'cases': results,
           'fit_24gib': fit, 'load_average_at_save': load_average()}
    (out_dir / 'results.json').write_text(json.dumps(out, indent=1))
    (out_dir / 'results.md').write_text(markdown(results, facts, ceilings, fit, args))

  for case in cases:
    rec = dict(case)
    for impl in impls:
      spec = dict(case, impl=impl, repeats=args.repeats, budget_s=budget, subbatch=args.subbatch,
                  seed=0, save_outputs=str(tmp / f"{case['family']}_{case['kind']}_{case['shape']}_{impl}.npz"))
      rec[impl] = run_worker(spec, args.case_timeout)
      print(f"{case['family']} {case['kind']} {case['shape']} {impl}: "
            f"{json.dumps({k: v for k, v in rec[impl].items() if k != 'times_s'})}", flush=True)
    out_path = lambda i: tmp / f"{case['family']}_{case['kind']}_{case['shape']}_{i}.npz"
    if len(impls) == 2:
      sigs = {rec[i].get('param_signature') for i in impls}
      rec['same_param_tree'] = len(sigs) == 1 and None not in sigs
      rec['max_abs_diff'] = (max_abs_diff(*[out_path(i) for i in impls])
                             if rec['same_param_tree'] else None)
    for variant in (variants if case['family'] in ('evoformer', 'whole_model') else ()):
      if variant == 'ours_lowmem' and case['kind'] != 'fwd+bwd':
        continue  # the low-memory policy only changes the training (backward) program
      spec = dict(case, impl=variant, repeats=args.repeats, budget_s=budget,
                  subbatch=args.subbatch, seed=0, save_outputs=str(out_path(variant)),
                  compile_only=variant == 'ours_lowmem' and args.lowmem_compile_only)
      rec[variant] = run_worker(spec, args.case_timeout)
      rec[variant]['max_abs_diff_vs_ours'] = max_abs_diff(out_path(variant), out_path('ours'))
      print(f"{case['family']} {case['kind']} {case['shape']} {variant}: "
            f"{json.dumps({k: v for k, v in rec[variant].items() if k != 'times_s'})}", flush=True)
    results.append(rec)
    save()

  for n in _shapes(args.fit_lengths, False):
    rec = {'n_res': n}
    for impl in impls:
      spec = {'family': 'evoformer', 'kind': 'fwd', 'n_seq': 128, 'n_res': n, 'impl': impl,
              'compile_only': True, 'subbatch': args.subbatch, 'seed': 0, 'repeats': 0,
              'budget_s': budget}
      rec[impl] = run_worker(spec, args.case_timeout)
      print(f'fit L={n} {impl}: {json.dumps(rec[impl])}', flush=True)
    fit.append(rec)
    save()

  if not args.no_matmul:
    c = run_worker({'family': 'matmul', 'size': 4096}, args.case_timeout)
    c['when'] = 'after the cases'
    ceilings.append(c)
    print('matmul ceiling:', json.dumps(c), flush=True)

  save()
  shutil.rmtree(tmp, ignore_errors=True)
  print()
  print_table(results)
  prows = policy_rows(results)
  if prows:
    print()
    widths = [max(len(str(r[i])) for r in [POLICY_HEADER] + prows) for i in range(len(POLICY_HEADER))]
    for row in [POLICY_HEADER] + prows:
      print('  '.join(str(c).ljust(w) for c, w in zip(row, widths)), flush=True)
  for c in ceilings:
    print('matmul ceiling', c.get('when'), _fmt(c.get('gflops'), '{:.0f}'), 'GFLOP/s')
  print(f'wrote {out_dir / "results.json"} and {out_dir / "results.md"}')


if __name__ == '__main__':
  main()
