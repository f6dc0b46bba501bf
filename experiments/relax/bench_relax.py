"""Amber relax of crambin (1CRN, 46 residues): time, violations, RMSD; ours vs the oracle.

    python experiments/relax/bench_relax.py [--repeats 3] [--sigmas 0,0.1,0.2] [--no-oracle]

For each noise level sigma (Angstrom, Gaussian per coordinate on every heavy atom, seed 0):
relax with alphafold_jax.relax (AF2 settings, CPU platform) `repeats` times, then once with the
oracle's AmberRelaxation (alphafold-colabfold, run_alphafold.py settings) seeded the same way.
Warm-up runs first, so neither side's JAX compile of the violation check is in the timings.
Prints one JSON line per case and a Markdown table.
"""

import argparse
import json
import pathlib
import random
import statistics
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# pylint: disable=wrong-import-position
from alphafold_jax.common import protein as protein_lib
from alphafold_jax.relax import heavy_atom_rmsd, relax_protein


def noised(prot, sigma, seed=0):
  rng = np.random.default_rng(seed)
  return prot.replace(atom_positions=prot.atom_positions + rng.normal(
      0.0, sigma, prot.atom_positions.shape) * prot.atom_mask[..., None])


def oracle_relax(prot):
  # pylint: disable=import-outside-toplevel
  from alphafold.common import protein as oracle_protein
  from alphafold.relax import relax
  relaxer = relax.AmberRelaxation(max_iterations=0, tolerance=2.39, stiffness=10.0,
                                  exclude_residues=[], max_outer_iterations=3, use_gpu=False)
  state = random.getstate()
  random.seed(0)
  try:
    started = time.time()
    pdb_str, debug, violations = relaxer.process(
        prot=oracle_protein.from_pdb_string(protein_lib.to_pdb(prot)))
    return protein_lib.from_pdb_string(pdb_str), debug, sum(violations), time.time() - started
  finally:
    random.setstate(state)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--sigmas', default='0,0.1,0.2')
  parser.add_argument('--no-oracle', action='store_true')
  args = parser.parse_args()
  crambin = protein_lib.from_file(ROOT / 'tests/data/structures/nano/1CRN.pdb')
  started = time.time()
  relax_protein(crambin)  # warm-up: compiles our violation check
  print(f'warm-up (first relax, includes jit compile): {time.time() - started:.2f} s')
  if not args.no_oracle:
    started = time.time()
    oracle_relax(crambin)
    print(f'oracle warm-up: {time.time() - started:.2f} s')
  rows = []
  for sigma in (float(s) for s in args.sigmas.split(',')):
    prot = noised(crambin, sigma)
    runs = [relax_protein(prot) for _ in range(args.repeats)]
    relaxed = [protein_lib.from_pdb_string(pdb) for pdb, _ in runs]
    info = runs[0][1]
    row = {
        'sigma': sigma,
        'violations_before': info['violations_before'],
        'violations_after': [r[1]['violations_after'] for r in runs],
        'outer_iterations': [r[1]['outer_iterations'] for r in runs],
        'rmsd_to_input': [round(r[1]['rmsd_to_input'], 3) for r in runs],
        'rmsd_between_repeats': round(max(heavy_atom_rmsd(relaxed[0], r) for r in relaxed), 3),
        'time_s': [r[1]['time_s'] for r in runs],
        'time_s_median': statistics.median(r[1]['time_s'] for r in runs),
        'energy_kcal': [round(info['initial_energy'], 1), round(info['final_energy'], 1)],
    }
    if not args.no_oracle:
      theirs, debug, violations, seconds = oracle_relax(prot)
      row.update(oracle_violations_after=violations, oracle_time_s=round(seconds, 2),
                 oracle_rmsd_to_input=round(heavy_atom_rmsd(prot, theirs), 3),
                 rmsd_to_oracle=round(heavy_atom_rmsd(theirs, relaxed[0]), 3),
                 oracle_energy_kcal=[round(debug['initial_energy'], 1),
                                     round(debug['final_energy'], 1)])
    print(json.dumps(row), flush=True)
    rows.append(row)
  print('\n| sigma (A) | violations before -> after | rounds | RMSD to input (A) | '
        'time (s, median) | oracle: after / RMSD to input / time | RMSD ours vs oracle (A) |')
  print('|---|---|---|---|---|---|---|')
  for r in rows:
    oracle = (f"{r['oracle_violations_after']} / {r['oracle_rmsd_to_input']} / "
              f"{r['oracle_time_s']}" if 'oracle_time_s' in r else '-')
    print(f"| {r['sigma']} | {r['violations_before']} -> {max(r['violations_after'])} | "
          f"{max(r['outer_iterations'])} | {max(r['rmsd_to_input'])} | {r['time_s_median']} | "
          f"{oracle} | {r.get('rmsd_to_oracle', '-')} |")


if __name__ == '__main__':
  main()
