"""Compiled memory of the L x L heads (distogram + PAE) and of the structure module, default
path vs the long-sequence policy (blocks of rows: heads/distogram.py, heads/
predicted_aligned_error.py, ipa.py), model_1_ptm widths, fp32, inference.

Command (from the repo root; compile only, nothing is run):
  PYTHONPATH=. python experiments/benchmarks/heads_memory.py --lengths 3072
      [--parts heads,structure] [--out FILE.json]

`heads`: DistogramHead + PredictedAlignedErrorHead on pair [L, L, 128] -> logits [L, L, 64] x 2.
`structure`: StructureModule (8 shared IPA layers, 12 heads, c_s 384) on single [L, 384] and
pair [L, L, 128]. GiB from `jax.jit(...).lower(...).compile().memory_analysis()`; sum = args +
outputs + temp. Result: experiments/benchmarks/README.md (issue 17).
"""

from __future__ import annotations

import argparse
import sys
import time

import haiku as hk
import jax
import jax.numpy as jnp

from long_sequence_memory import record  # same directory (run as a script)

GIB = 2 ** 30


def _model(part, variant):
  from alphafold_jax.model import heads
  from alphafold_jax.model.structure_module import StructureModule, StructureModuleConfig
  from alphafold_jax.ops import memory_policy
  from alphafold_jax.ops.global_config import GlobalConfig
  gc = GlobalConfig(deterministic=True)
  if variant == 'long':
    gc = memory_policy.long_sequence_inference(gc)
  if part == 'heads':
    def fn(single, pair, aatype, mask):
      del single, aatype, mask
      dist = heads.DistogramHead(heads.DistogramHeadConfig(), gc)(pair)
      pae = heads.PredictedAlignedErrorHead(heads.PredictedAlignedErrorHeadConfig(), gc)(pair)
      return dist['logits'], pae['logits']
  else:
    def fn(single, pair, aatype, mask):
      out = StructureModule(StructureModuleConfig(), gc)(single, pair, aatype, mask)
      return out['final_atom_positions'], out['act']
  return hk.transform(fn)


def measure(part, variant, length):
  model = _model(part, variant)
  sds = jax.ShapeDtypeStruct

  def args(n):
    return (sds((n, 384), jnp.float32), sds((n, n, 128), jnp.float32), sds((n,), jnp.int32),
            sds((n,), jnp.float32))
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), *args(8))
  t0 = time.time()
  mem = jax.jit(lambda p, *a: model.apply(p, None, *a)).lower(
      params, *args(length)).compile().memory_analysis()
  row = dict(part=part, variant=variant, length=length,
             args_gib=mem.argument_size_in_bytes / GIB, out_gib=mem.output_size_in_bytes / GIB,
             temp_gib=mem.temp_size_in_bytes / GIB, compile_s=round(time.time() - t0, 1))
  row['sum_gib'] = row['args_gib'] + row['out_gib'] + row['temp_gib']
  return row


def main(argv=None):
  p = argparse.ArgumentParser()
  p.add_argument('--lengths', default='3072')
  p.add_argument('--parts', default='heads,structure')
  p.add_argument('--out', default=None)
  a = p.parse_args(argv)
  rows = []
  for length in [int(x) for x in a.lengths.split(',')]:
    for part in a.parts.split(','):
      for variant in ('default', 'long'):
        record(rows, measure(part, variant, length), a.out)
  return rows


if __name__ == '__main__':
  sys.exit(main() and 0)
