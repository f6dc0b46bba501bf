"""Per-sub-layer timing of the Evoformer iteration: ours vs the oracle, interleaved in ONE process.

Command (from the repo root):
  /work/venv/bin/python experiments/benchmarks/sublayer_benchmark.py --shape 128x256 --rounds 5
  options: --subbatch 4|none|budget:MIB (ours; the oracle always runs at subbatch 4, or 'none')
           --kind fwd|fwd+bwd  --only row,col,opm  --c-m 64 (extra-MSA widths)

Each sub-layer (model_1_ptm widths unless --c-m) is built in ours and in the oracle with the SAME
random parameters (bench_cases.random_params; the parameter trees are asserted equal), jitted,
warmed up, then the two are timed alternately for --rounds rounds (median), so both see the same
machine load; fwd+bwd = grad of sum(sin(update)) w.r.t. params, MSA and pair. Prints one line per
sub-layer: ours ms, oracle ms, ratio, max |ours - oracle|.

Expected runtime: ~1 min at 64x128, ~3 min at 128x256 (fwd, 5 rounds, 2 loaded cores).
Result (2026-11-22, load ~1.5, subbatch 4, fwd, 128x256), ours/oracle: row attention 0.41, column
attention 0.63, MSA transition 0.96, outer product mean 1.05, triangle multiplication 0.52/0.51,
triangle attention 0.54/0.58, pair transition 0.98; sum 0.62 (1.05 before this session's layout
changes, see README.md).
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
for _p in (str(HERE.parents[1]), str(HERE)):
  if _p not in sys.path:
    sys.path.insert(0, _p)

import haiku as hk  # noqa: E402  (after the path set-up)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import bench_cases as bc  # noqa: E402

SUBLAYERS = ('row', 'col', 'gcol', 'msa_tr', 'opm', 'tri_out', 'tri_in', 'att_start', 'att_end',
             'pair_tr')


def _builders(cfg, gc, ocfg, ogc, c_z):
  """name -> (ours(msa, msa_mask, pair, pair_mask), oracle(...)) building the sub-layer update."""
  from alphafold.model import modules
  from alphafold_jax.model import msa as msa_lib
  from alphafold_jax.model import triangle
  from alphafold_jax.model.outer_product_mean import OuterProductMean
  from alphafold_jax.model.transition import Transition
  tri = lambda cls, name: (lambda m, mm, z, pm: cls(getattr(cfg, name), gc, name=name)(z, pm))
  otri = lambda cls, name: (lambda m, mm, z, pm: cls(getattr(ocfg, name), ogc, name=name)(
      z, pm, is_training=False))
  return {
      'row': (lambda m, mm, z, pm: msa_lib.MSARowAttentionWithPairBias(
          cfg.msa_row_attention_with_pair_bias, gc)(m, mm, z),
              lambda m, mm, z, pm: modules.MSARowAttentionWithPairBias(
                  ocfg.msa_row_attention_with_pair_bias, ogc)(m, mm, z, is_training=False)),
      'col': (lambda m, mm, z, pm: msa_lib.MSAColumnAttention(cfg.msa_column_attention, gc)(m, mm),
              lambda m, mm, z, pm: modules.MSAColumnAttention(ocfg.msa_column_attention, ogc)(
                  m, mm, is_training=False)),
      'gcol': (lambda m, mm, z, pm: msa_lib.MSAColumnGlobalAttention(
          cfg.msa_column_attention, gc)(m, mm),
               lambda m, mm, z, pm: modules.MSAColumnGlobalAttention(
                   ocfg.msa_column_attention, ogc)(m, mm, is_training=False)),
      'msa_tr': (lambda m, mm, z, pm: Transition(cfg.msa_transition, gc, name='msa_transition')(
          m, mm),
                 lambda m, mm, z, pm: modules.Transition(
                     ocfg.msa_transition, ogc, name='msa_transition')(m, mm, is_training=False)),
      'opm': (lambda m, mm, z, pm: OuterProductMean(cfg.outer_product_mean, gc, c_z)(m, mm),
              lambda m, mm, z, pm: modules.OuterProductMean(ocfg.outer_product_mean, ogc, c_z)(
                  m, mm, is_training=False)),
      'tri_out': (tri(triangle.TriangleMultiplication, 'triangle_multiplication_outgoing'),
                  otri(modules.TriangleMultiplication, 'triangle_multiplication_outgoing')),
      'tri_in': (tri(triangle.TriangleMultiplication, 'triangle_multiplication_incoming'),
                 otri(modules.TriangleMultiplication, 'triangle_multiplication_incoming')),
      'att_start': (tri(triangle.TriangleAttention, 'triangle_attention_starting_node'),
                    otri(modules.TriangleAttention, 'triangle_attention_starting_node')),
      'att_end': (tri(triangle.TriangleAttention, 'triangle_attention_ending_node'),
                  otri(modules.TriangleAttention, 'triangle_attention_ending_node')),
      'pair_tr': (lambda m, mm, z, pm: Transition(cfg.pair_transition, gc, name='pair_transition')(
          z, pm),
                  lambda m, mm, z, pm: modules.Transition(
                      ocfg.pair_transition, ogc, name='pair_transition')(z, pm, is_training=False)),
  }


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--shape', default='64x128', help='N_seqxL')
  p.add_argument('--subbatch', default='4', help="ours: rows, 'none' or 'budget:MIB'")
  p.add_argument('--kind', choices=('fwd', 'fwd+bwd'), default='fwd')
  p.add_argument('--rounds', type=int, default=5)
  p.add_argument('--only', default='', help='comma list of ' + ','.join(SUBLAYERS))
  p.add_argument('--c-m', type=int, default=256, help='MSA channels (64: extra-MSA widths)')
  args = p.parse_args()

  from alphafold_jax.ops.global_config import GlobalConfig
  from alphafold_jax.model import evoformer
  n_seq, n_res = (int(v) for v in args.shape.lower().split('x'))
  budget = float(args.subbatch.split(':')[1]) if args.subbatch.startswith('budget:') else None
  rows = None if args.subbatch == 'none' else (4 if budget else int(args.subbatch))
  gc = GlobalConfig(deterministic=True, subbatch_size=rows, chunk_budget_mib=budget)
  cfg = evoformer.EvoformerIterationConfig()
  ocfg = bc.oracle_config(4).model
  ogc = ocfg.global_config
  ogc.subbatch_size = 4 if args.subbatch != 'none' else 10 ** 9
  ocfg = ocfg.embeddings_and_evoformer.evoformer
  c_z = 128
  inputs = (bc._normal(1, (n_seq, n_res, args.c_m)), jnp.ones((n_seq, n_res), jnp.float32),
            bc._normal(2, (n_res, n_res, c_z)), jnp.ones((n_res, n_res), jnp.float32))
  only = [s for s in args.only.split(',') if s] or [s for s in SUBLAYERS if s != 'gcol']
  totals = [0.0, 0.0]
  for name in only:
    ours_fn, oracle_fn = _builders(cfg, gc, ocfg, ogc, c_z)[name]
    t_ours, t_oracle = hk.transform(ours_fn), hk.transform(oracle_fn)
    shapes = jax.eval_shape(t_oracle.init, jax.random.PRNGKey(0), *inputs)
    if bc.shape_signature(jax.eval_shape(t_ours.init, jax.random.PRNGKey(0), *inputs)) != \
        bc.shape_signature(shapes):
      raise SystemExit(f'{name}: parameter trees differ between ours and the oracle')
    params = bc.random_params(shapes, 0)

    def build(t):
      if args.kind == 'fwd':
        return jax.jit(lambda p, *a: t.apply(p, None, *a))
      loss = lambda p, m, mm, z, pm: jnp.sum(jnp.sin(t.apply(p, None, m, mm, z, pm)))
      return jax.jit(jax.grad(loss, argnums=(0, 1, 3)))

    fns = (build(t_ours), build(t_oracle))
    outs = [jax.block_until_ready(f(params, *inputs)) for f in fns]
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(
        jax.tree_util.tree_leaves(outs[0]), jax.tree_util.tree_leaves(outs[1])))
    times = ([], [])
    for _ in range(args.rounds):
      for f, ts in zip(fns, times):
        t0 = time.perf_counter()
        jax.block_until_ready(f(params, *inputs))
        ts.append(time.perf_counter() - t0)
    med = [statistics.median(ts) for ts in times]
    totals = [a + b for a, b in zip(totals, med)]
    print(f'{name:10s} ours {med[0] * 1e3:8.1f} ms  oracle {med[1] * 1e3:8.1f} ms  '
          f'ratio {med[0] / med[1]:5.2f}  max|d| {diff:.1e}', flush=True)
  print(f'{"sum":10s} ours {totals[0] * 1e3:8.1f} ms  oracle {totals[1] * 1e3:8.1f} ms  '
        f'ratio {totals[0] / totals[1]:5.2f}')


if __name__ == '__main__':
  main()
