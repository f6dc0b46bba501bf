"""bf16 vs fp32 speed and compiled memory of our whole model (issue 18's benchmark row).

Command (CPU; ~3 min):

    PYTHONPATH=. python experiments/bf16/bench_speed_memory.py [--lengths 64,128]

model_1_ptm at real widths with 2 Evoformer, 1 extra-MSA and 1 template-pair block, 1 recycle,
random parameters (the same for both precisions), one jitted RunModel call per precision and
length. Memory: XLA's compiled memory analysis (arguments + outputs + temporaries) of the whole
predict program; time: median of 3 calls after a warm-up call. Prints a Markdown table.
"""

import argparse
import statistics
import time

import jax
import numpy as np

import data_pipeline
from alphafold_jax.config import model_config
from alphafold_jax.model import RunModel
from alphafold_jax.model.run_model import model_inputs

BLOCKS = dict(evoformer_num_block=2, extra_msa_stack_num_block=1,
              template_pair_stack_num_block=1, num_recycle=1, subbatch_size=None)


def measure(length: int, bf16: bool, params=None):
  config = model_config('model_1_ptm', bfloat16=bf16, **BLOCKS)
  rng = np.random.default_rng(0)
  seq = ''.join(rng.choice(list('ACDEFGHIKLMNPQRSTVWY'), length))
  model = RunModel(config)
  feats = model.process_features(data_pipeline.make_raw_features(seq, 'x'), 0)
  if params is None:
    params = model.init_params(feats, random_seed=1)
  model.params = params
  batch = model_inputs(feats)
  compiled = model._apply.lower(params, jax.random.PRNGKey(0), batch, np.int32(1)).compile()
  mem = compiled.memory_analysis()
  total = (mem.argument_size_in_bytes + mem.output_size_in_bytes
           + mem.temp_size_in_bytes) / 2 ** 30
  model.predict(feats)  # warm-up (compile)
  times = []
  for _ in range(3):
    t0 = time.perf_counter()
    model.predict(feats)
    times.append(time.perf_counter() - t0)
  return params, statistics.median(times), total, mem.temp_size_in_bytes / 2 ** 30


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--lengths', default='64,128')
  args = parser.parse_args()
  print('| L | fp32 s | bf16 s | bf16/fp32 time | fp32 GiB (temp) | bf16 GiB (temp) | bf16/fp32 memory |')
  print('|---|---|---|---|---|---|---|')
  for length in [int(x) for x in args.lengths.split(',')]:
    params, t32, m32, tmp32 = measure(length, False)
    _, t16, m16, tmp16 = measure(length, True, params)
    print(f'| {length} | {t32:.2f} | {t16:.2f} | {t16 / t32:.2f} | {m32:.3f} ({tmp32:.3f}) | '
          f'{m16:.3f} ({tmp16:.3f}) | {m16 / m32:.2f} |', flush=True)


if __name__ == '__main__':
  main()
