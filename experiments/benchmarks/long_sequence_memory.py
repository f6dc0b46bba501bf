"""Compiled memory of one Evoformer iteration vs sequence length: ours (default, long-sequence
policy fp32, long-sequence policy + bf16 pair storage) vs the oracle (alphafold-colabfold).

Command (from the repo root; compile only, nothing is run, ~1-4 min per case on 2 loaded cores):
  PYTHONPATH=. python experiments/benchmarks/long_sequence_memory.py --lengths 512,1024,2048,3072
      [--variants default,long,long_bf16,oracle] [--nseq 128] [--out FILE.json] [--run]

With --run each compiled iteration is also executed once on random inputs (random parameters
from bench_cases.random_params, msa ~ N(0, 1), pair ~ N(0, 1)): wall seconds of the call, whether
every output is finite, and the process's peak RSS (GiB) are added to its row. L = 3072 `long`
takes ~1.5 h of one core of the 2-core machine.

Each case: `jax.jit(apply, donate_argnums=(msa, pair)).lower(<ShapeDtypeStructs>).compile()
.memory_analysis()` of ONE EvoformerIteration at model_1_ptm widths (c_m 256, c_z 128), N_seq
128, fp32 compute, deterministic. Reported: argument, output, alias (output bytes that reuse a
donated argument) and temp bytes; `sum` = args + outputs + temp (the issue's figure) and `live`
= args + outputs - alias + temp (what is actually resident at the peak). The bf16 variant takes
and returns the pair in bf16 (its storage dtype between blocks). The oracle runs with its
defaults for model_1_ptm (subbatch_size 4, fp32, unfused triangle weights).
Result: experiments/benchmarks/README.md (issue 17 table).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import haiku as hk
import jax
import jax.numpy as jnp

GIB = 2 ** 30


def _ours(variant):
  from alphafold_jax.model import evoformer
  from alphafold_jax.ops import memory_policy
  from alphafold_jax.ops.global_config import GlobalConfig
  gc = GlobalConfig(deterministic=True)
  if variant == 'long':
    gc = memory_policy.long_sequence_inference(gc)
  elif variant == 'long_bf16':
    gc = memory_policy.long_sequence_inference(gc, bfloat16_pair=True)
  cfg = evoformer.EvoformerIterationConfig()

  def fn(msa, pair, msa_mask, pair_mask):
    return evoformer.EvoformerIteration(cfg, gc, is_extra_msa=False)(msa, pair, msa_mask, pair_mask)
  return hk.transform(fn), (jnp.bfloat16 if variant == 'long_bf16' else jnp.float32)


def _oracle():
  from alphafold.model import modules
  from tests.ops import trunk_testing as tt
  ocfg, _, ogc = tt.oracle_configs()

  def fn(msa, pair, msa_mask, pair_mask):
    out = modules.EvoformerIteration(ocfg, ogc, is_extra_msa=False, name='evoformer_iteration')(
        {'msa': msa, 'pair': pair}, {'msa': msa_mask, 'pair': pair_mask}, is_training=False)
    return out['msa'], out['pair']
  return hk.transform(fn), jnp.float32


def measure(variant, n_seq, length, run=False):
  model, pair_dtype = _oracle() if variant == 'oracle' else _ours(variant)
  sds = jax.ShapeDtypeStruct
  args = (sds((n_seq, length, 256), jnp.float32), sds((length, length, 128), pair_dtype),
          sds((n_seq, length), jnp.float32), sds((length, length), jnp.float32))
  small = (sds((4, 8, 256), jnp.float32), sds((8, 8, 128), pair_dtype),
           sds((4, 8), jnp.float32), sds((8, 8), jnp.float32))
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), *small)
  params = jax.tree_util.tree_map(lambda p: sds(p.shape, jnp.float32), params)
  t0 = time.time()
  key = sds((2,), jnp.uint32)  # the oracle draws (unused) dropout keys
  apply = lambda p, k, *a: model.apply(p, k, *a)
  compiled = jax.jit(apply, donate_argnums=(2, 3)).lower(params, key, *args).compile()
  mem = compiled.memory_analysis()
  row = dict(variant=variant, n_seq=n_seq, length=length,
             args_gib=mem.argument_size_in_bytes / GIB, out_gib=mem.output_size_in_bytes / GIB,
             alias_gib=mem.alias_size_in_bytes / GIB, temp_gib=mem.temp_size_in_bytes / GIB,
             compile_s=round(time.time() - t0, 1))
  row['sum_gib'] = row['args_gib'] + row['out_gib'] + row['temp_gib']
  row['live_gib'] = row['sum_gib'] - row['alias_gib']
  if run:
    row.update(_run(compiled, params, args))
  return row


def _run(compiled, param_shapes, arg_shapes) -> dict:
  """Executes the compiled iteration once on random inputs; wall time, finiteness, peak RSS."""
  from experiments.benchmarks import bench_cases
  params = bench_cases.random_params(param_shapes, seed=0)
  msa_s, pair_s, msa_mask_s, pair_mask_s = arg_shapes
  # Drawn on the device by jitted calls: no NumPy float64 copy of an [L, L, c_z] pair.
  msa = jax.jit(lambda k: jax.random.normal(k, msa_s.shape, msa_s.dtype))(jax.random.PRNGKey(1))
  pair = jax.jit(lambda k: jax.random.normal(k, pair_s.shape, pair_s.dtype))(
      jax.random.PRNGKey(2))
  inputs = (msa, pair, jnp.ones(msa_mask_s.shape), jnp.ones(pair_mask_s.shape))
  t0 = time.time()
  out = jax.block_until_ready(compiled(params, jax.random.PRNGKey(3), *inputs))
  wall = time.time() - t0
  finite = all(bool(jax.jit(lambda x: jnp.all(jnp.isfinite(x)))(x))
               for x in jax.tree_util.tree_leaves(out))
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # Linux: KiB -> GiB
  return dict(run_s=round(wall, 1), finite=finite, peak_rss_gib=round(peak, 2))


def main(argv=None):
  p = argparse.ArgumentParser()
  p.add_argument('--lengths', default='512,1024,2048,3072')
  p.add_argument('--variants', default='default,long,long_bf16,oracle')
  p.add_argument('--nseq', type=int, default=128)
  p.add_argument('--out', default=None)
  p.add_argument('--run', action='store_true', help='also execute each case once (slow)')
  a = p.parse_args(argv)
  rows = []
  for length in [int(x) for x in a.lengths.split(',')]:
    for variant in a.variants.split(','):
      record(rows, measure(variant, a.nseq, length, run=a.run), a.out)
  return rows


def record(rows: list, row: dict, out) -> None:
  """Appends a measured row, prints it as key=value, rewrites `out` (JSON) with all rows so
  far (an interrupted run keeps what it measured). Also used by heads_memory.py."""
  rows.append(row)
  print(' '.join(f'{k}={v:.2f}' if isinstance(v, float) else f'{k}={v}'
                 for k, v in row.items()), flush=True)
  if out:
    with open(out, 'w') as f:
      json.dump(rows, f, indent=1)


if __name__ == '__main__':
  sys.exit(main() and 0)
