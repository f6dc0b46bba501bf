"""`alphafold-jax predict` on one long sequence with model_1_ptm widths and reduced blocks.

    PYTHONPATH=. python experiments/benchmarks/long_sequence_predict.py [--length 1500]
        [--memory-budget-gib 8] [--work DIR]

Issue 17's whole-model check, run the way a user runs it:
  1. a FASTA with one random sequence of --length residues (20 amino acids, seed 0; the
     parameters are random, so the sequence only sets the length);
  2. random parameters in the tree of `model_1_ptm` at its real widths (c_m 256, c_z 128,
     c_s 384, 8 IPA layers, N_seq 512 + 5120 extra rows) with fewer blocks: 1 Evoformer block,
     1 extra-MSA block, no template stack (`tests.random_params.random_params`, DeepMind's npz
     layout) into --work (default runs/long_sequence_predict, git-ignored);
  3. `python -m alphafold_jax.cli predict seq.fasta --preset model_1_ptm --params P.npz
     --model-set evoformer_num_block=1 --model-set extra_msa_stack_num_block=1
     --model-set use_templates=False --model-set evoformer.template.enabled=False
     --num-recycle 0 --buckets L --memory-budget-gib B` as a subprocess: `predict` chooses the
     memory policy from L and the budget (ops/memory_policy.policy_for_length, logged); wall
     time and peak RSS of the subprocess;
  4. checks: exit 0, the PDB parses in Biopython with L residues, pLDDT finite.
Prints the facts and writes WORK/result.json; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from experiments.cli_subprocess import run_cli  # pylint: disable=wrong-import-position

PRESET = 'model_1_ptm'
MODEL_SET = ('evoformer_num_block=1', 'extra_msa_stack_num_block=1', 'use_templates=False',
             'evoformer.template.enabled=False')


def model_overrides():
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.cli.predict_models import parse_model_set
  return parse_model_set(MODEL_SET)


def make_params(path: pathlib.Path) -> int:
  """Random parameters of the reduced model_1_ptm, DeepMind's npz layout; returns the count."""
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.config import model_config
  from alphafold_jax.inference.weights import expected_param_shapes
  from alphafold_jax.params import save_alphafold_params
  from tests.random_params import STACKED_SCOPES, random_params
  shapes = expected_param_shapes(model_config(PRESET, **model_overrides()))
  params = random_params(shapes, seed=0, stacked=STACKED_SCOPES, gains={'quat_rigid': 0.1})
  save_alphafold_params(params, path)
  return int(sum(np.prod(v.shape) for scope in params.values() for v in scope.values()))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--length', type=int, default=1500)
  parser.add_argument('--memory-budget-gib', type=float, default=8.0)
  parser.add_argument('--work', default=str(ROOT / 'runs' / 'long_sequence_predict'))
  args = parser.parse_args(argv)
  work = pathlib.Path(args.work)
  work.mkdir(parents=True, exist_ok=True)
  from alphafold_jax.common import residue_constants as rc  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  sequence = ''.join(rng.choice(list(rc.restypes), size=args.length))
  fasta = work / 'long.fasta'
  fasta.write_text(f'>long{args.length}\n{sequence}\n')
  params = work / f'params_{PRESET}_reduced.npz'
  facts = {'length': args.length, 'memory_budget_gib': args.memory_budget_gib,
           'model_set': list(MODEL_SET), 'num_parameters': make_params(params)}

  out = work / 'out'
  if out.exists():
    import shutil  # pylint: disable=import-outside-toplevel
    shutil.rmtree(out)
  cli_args = ['predict', str(fasta), '--preset', PRESET, '--params', str(params),
              '--num-recycle', '0', '--buckets', str(args.length),
              '--memory-budget-gib', str(args.memory_budget_gib), '--no-plots', '--out', str(out)]
  for item in MODEL_SET:
    cli_args += ['--model-set', item]
  proc, run_facts = run_cli(cli_args)
  facts.update(run_facts)
  lines = (proc.stdout + proc.stderr).splitlines()
  facts['memory_policy'] = [l.split('memory policy ', 1)[1] for l in lines if 'memory policy' in l]
  facts['predict_output_tail'] = [l for l in lines if l.strip()][-5:]
  checks = {}
  if proc.returncode == 0:
    from Bio.PDB import PDBParser  # pylint: disable=import-outside-toplevel
    name = f'long{args.length}'
    structure = PDBParser(QUIET=True).get_structure(name, str(out / f'{name}.pdb'))
    checks['PDB parses with L residues'] = len(list(structure.get_residues())) == args.length
    info = json.loads((out / f'{name}.confidence.json').read_text())
    facts['mean_plddt'] = info.get('mean_plddt')
    checks['pLDDT finite'] = bool(np.isfinite(info.get('mean_plddt', np.nan)))
  facts['checks'] = checks
  facts['ok'] = proc.returncode == 0 and bool(checks) and all(checks.values())
  (work / 'result.json').write_text(json.dumps(facts, indent=1))
  print(json.dumps(facts, indent=1))
  return 0 if facts['ok'] else 1


if __name__ == '__main__':
  sys.exit(main())
