"""bf16 vs fp32, ours and the oracle's (alphafold-colabfold), on the same random parameters.

    PYTHONPATH=. python experiments/bf16/bench_bf16_vs_oracle.py [--gains 1,0.5,0.25] [--noise 0.01]

model_1_ptm at real widths, 1 Evoformer / extra-MSA / template-pair block, 1 recycle, crambin
(46 residues, 12 synthetic MSA rows, 2 templates), features from the oracle's input pipeline
(tests/model/test_alphafold_oracle.py's scheme). Parameters: the oracle's random init plus
N(0, noise^2) on every leaf, then every weight matrix (not LayerNorm scale/offset, not biases)
multiplied by `gain`: gain 1 is the oracle test's scheme, smaller gains give a less chaotic
random network. Each precision gets its OWN oracle config object (the oracle's modules read
the config when traced, so one mutated object would change both closures).

For each gain prints: CA span, and for the pairs (ours bf16 | ours fp32), (oracle bf16 | oracle
fp32), (ours bf16 | oracle bf16), (ours fp32 | oracle fp32): max per-atom distance (A), CA RMS
distance (A, same frame, no superposition) and max |d pLDDT|; plus a chaos probe: ours fp32 vs
ours fp32 with every parameter multiplied by (1 + 1e-3 N(0,1)), about bf16's rounding.
Four compiles (two per side); ~10 min on 2 busy CPU cores.
"""

import argparse
import os
import sys
import tempfile
import time

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'model'))
import test_alphafold_oracle as oracle_test  # noqa: E402  (the oracle test's helpers)

from alphafold_jax.config import model_config  # noqa: E402
from alphafold_jax.model import RunModel  # noqa: E402
from alphafold_jax.params import load_alphafold_params, save_alphafold_params  # noqa: E402

NAME, NUM_RECYCLE = 'model_1_ptm', 1


def _scale(params, gain, rel_noise=0.0, seed=0):
  rng = np.random.default_rng(seed)

  def f(path, x):
    x = np.asarray(x)
    leaf = str(path[-1].key)
    if rel_noise:
      x = x * (1 + rel_noise * rng.normal(size=x.shape)).astype(x.dtype)
    if leaf in ('scale', 'offset') or leaf.endswith(('bias', '_b')) or x.ndim < 2:
      return x
    return (x * gain).astype(x.dtype)
  return jax.tree_util.tree_map_with_path(f, params)


def _compare(a, b, mask):
  d = np.linalg.norm(a['final_atom_positions'] - b['final_atom_positions'], axis=-1)  # [N, 37]
  ca = d[:, 1]
  return (float(d[mask].max()), float(np.sqrt(np.mean(ca ** 2))),
          float(np.abs(a['plddt'] - b['plddt']).max()))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--gains', default='1,0.5,0.25')
  parser.add_argument('--noise', type=float, default=oracle_test.PARAM_NOISE)
  args = parser.parse_args()
  oracle_test.PARAM_NOISE = args.noise
  rng = np.random.default_rng(7)
  cfg32 = oracle_test._oracle_cfg(NAME, NUM_RECYCLE)
  cfg16 = oracle_test._oracle_cfg(NAME, NUM_RECYCLE)  # a separate object
  cfg16.model.global_config.bfloat16 = True
  assert cfg32.model.global_config.bfloat16 is False
  raw = oracle_test._raw_features(True, rng)
  feats = oracle_test.oracle_features.np_example_to_features(raw, cfg32, random_seed=3)
  num_res = feats['aatype'].shape[1]
  t32, base = oracle_test._perturbed_oracle_params(cfg32, feats, seed=11)
  t16, _ = oracle_test._perturbed_oracle_params(cfg16, feats, seed=11)
  ours = {}
  for bf16 in (False, True):
    ours[bf16] = RunModel(model_config(NAME, num_recycle=NUM_RECYCLE, subbatch_size=None,
                                       deterministic=True, zero_init=False, bfloat16=bf16,
                                       **oracle_test.NUM_BLOCKS))
  tmp = tempfile.mkdtemp()
  print(f'{NAME}, {num_res} residues, {NUM_RECYCLE} recycle, noise {args.noise}')
  print('gain  CA-span | ours16-ours32      | orc16-orc32        | ours16-orc16       '
        '| ours32-orc32       | chaos probe (1e-3 rel.)')
  print('              | maxd  CArms  dpLDDT| maxd  CArms  dpLDDT| maxd  CArms  dpLDDT'
        '| maxd  CArms  dpLDDT| maxd  CArms  dpLDDT')
  for gain in [float(g) for g in args.gains.split(',')]:
    t0 = time.time()
    params = _scale(base, gain)
    path = os.path.join(tmp, f'p{gain}.npz')
    save_alphafold_params(params, path)
    res = {}
    for bf16, transformed in ((False, t32), (True, t16)):
      per_cycle = oracle_test._run_oracle(transformed, params, feats, NUM_RECYCLE + 1, num_res)
      res[('oracle', bf16)] = per_cycle[NUM_RECYCLE]
      model = ours[bf16]
      model.params = load_alphafold_params(path, expected=model.param_shapes(feats))
      res[('ours', bf16)] = model.predict(feats)
    mask = res[('ours', False)]['final_atom_mask'] > 0
    probe = _scale(params, 1.0, rel_noise=1e-3, seed=5)
    model = ours[False]
    model.params = jax.tree_util.tree_map(np.asarray, probe)
    res['probe'] = model.predict(feats)
    span = float(np.ptp(res[('ours', False)]['final_atom_positions'][:, 1], axis=0).max())
    cols = [_compare(res[('ours', True)], res[('ours', False)], mask),
            _compare(res[('oracle', True)], res[('oracle', False)], mask),
            _compare(res[('ours', True)], res[('oracle', True)], mask),
            _compare(res[('ours', False)], res[('oracle', False)], mask),
            _compare(res['probe'], res[('ours', False)], mask)]
    print(f'{gain:<5} {span:7.1f} | ' + '| '.join(f'{a:5.2f} {b:6.3f} {c:6.2f} ' for a, b, c in cols)
          + f'  ({time.time() - t0:.0f} s)', flush=True)


if __name__ == '__main__':
  main()
