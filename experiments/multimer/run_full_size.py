"""`alphafold-jax predict` on a heterodimer with a FULL-SIZE random `model_1_multimer_v3` file.

    PYTHONPATH=. nice -n 5 python experiments/multimer/run_full_size.py [--work DIR]
        [--num-recycle N]

One command:
  1. a complex FASTA (ColabFold `A:B`): trp-cage 1L2Y (20 res) : villin headpiece 1VII (36 res),
     sequences read from tests/data/structures/nano;
  2. random parameters in the full `model_1_multimer_v3` tree (48 Evoformer blocks, real widths;
     `tests.random_params.random_params`, no init compile), written with our npz writer
     (`save_alphafold_params`, DeepMind's layout, ~370 MB) into --work (default runs/
     multimer_full_size, git-ignored). The file's names and shapes are checked against the
     oracle's `modules_multimer.AlphaFold` traced with the oracle's own `model_1_multimer_v3`
     config (DeepMind's code creates DeepMind's tree; no compute);
  3. `python -m alphafold_jax.cli predict complex.fasta --preset model_1_multimer_v3 --params
     P.npz --out OUT [--num-recycle N]` (= `alphafold-jax predict ...`) as a subprocess: wall
     time and its peak RSS;
  4. checks the outputs: PDB and mmCIF parse in Biopython with chains A and B of 20 and 36
     residues; the confidence JSON has ipTM and pTM and ranking_confidence = 0.8 ipTM + 0.2 pTM.
Prints the facts and writes them to WORK/result.json; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# pylint: disable=wrong-import-position
from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from experiments.cli_subprocess import run_cli

PRESET = 'model_1_multimer_v3'
CHAINS = ('1L2Y', '1VII')


def chain_sequences():
  seqs = []
  for name in CHAINS:
    prot = protein_lib.from_file(ROOT / 'tests' / 'data' / 'structures' / 'nano' / f'{name}.pdb')
    seqs.append(''.join(rc.restypes_with_x[a] for a in prot.aatype))
  return seqs


def oracle_tree(feats):
  """{module//name: shape} of the oracle's AF2-Multimer with its own model_1_multimer_v3 config."""
  import haiku as hk  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from alphafold.model import config as oracle_config  # pylint: disable=import-outside-toplevel
  from alphafold.model import modules_multimer  # pylint: disable=import-outside-toplevel
  cfg = oracle_config.model_config(PRESET).model
  cfg.global_config.bfloat16 = False
  cfg.calc_extended_ptm = False  # colabfold-only outputs; no parameters
  cfg.use_probs_extended = False
  n = feats['aatype'].shape[0]
  batch = {**feats, 'all_atom_positions': np.zeros((n, 37, 3), np.float32),
           'prev': {'prev_msa_first_row': np.zeros((n, 256), np.float32),
                    'prev_pair': np.zeros((n, n, 128), np.float32),
                    'prev_pos': np.zeros((n, 37, 3), np.float32)}}
  transformed = hk.transform(lambda b: modules_multimer.AlphaFold(cfg)(b, is_training=False))
  shapes = jax.eval_shape(transformed.init, jax.random.PRNGKey(0),
                          jax.tree_util.tree_map(jnp.asarray, batch))
  return {f'{m}//{k}': tuple(v.shape) for m, d in shapes.items() for k, v in d.items()}


def make_params(path: pathlib.Path, feats):
  """Random full-size parameters in our model's tree, saved in DeepMind's npz layout."""
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.config import model_config
  from alphafold_jax.model import RunModel
  from alphafold_jax.params import save_alphafold_params
  from tests.random_params import STACKED_SCOPES, random_params
  shapes = RunModel(model_config(PRESET)).param_shapes(feats)
  # backbone updates (quat_rigid) x0.1: 8 random folding steps stay within PDB coordinates
  params = random_params(shapes, seed=0, stacked=STACKED_SCOPES, gains={'quat_rigid': 0.1})
  save_alphafold_params(params, path)


def pdb_residues(path):
  from Bio.PDB import PDBParser  # pylint: disable=import-outside-toplevel
  model = PDBParser(QUIET=True).get_structure('x', str(path))[0]
  return {c.id: len(list(c.get_residues())) for c in model}


def cif_residues(path):
  from Bio.PDB import MMCIFParser  # pylint: disable=import-outside-toplevel
  model = MMCIFParser(QUIET=True).get_structure('x', str(path))[0]
  return {c.id: len(list(c.get_residues())) for c in model}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--work', default=str(ROOT / 'runs' / 'multimer_full_size'))
  parser.add_argument('--num-recycle', type=int, default=None)
  args = parser.parse_args(argv)
  work = pathlib.Path(args.work)
  work.mkdir(parents=True, exist_ok=True)
  seqs = chain_sequences()
  fasta = work / 'complex.fasta'
  fasta.write_text(f'>hetero\n{seqs[0]}:{seqs[1]}\n')
  from data_pipeline.multimer import ChainInput, make_multimer_features  # pylint: disable=import-outside-toplevel
  feats = make_multimer_features([ChainInput(s) for s in seqs])
  facts = {'chains': dict(zip('AB', (len(s) for s in seqs))), 'sources': dict(zip('AB', CHAINS))}

  params = work / f'params_{PRESET}.npz'
  t0 = time.time()
  make_params(params, feats)
  facts['params_seconds'] = round(time.time() - t0, 1)
  facts['params_file_mb'] = round(params.stat().st_size / 1e6, 1)
  with np.load(params) as npz:
    ours = {k: tuple(npz[k].shape) for k in npz.files}
  theirs = oracle_tree(feats)
  facts['tree_leaves'] = len(ours)
  facts['num_parameters'] = int(sum(int(np.prod(s)) for s in ours.values()))
  facts['tree_equals_oracle'] = ours == theirs
  if not facts['tree_equals_oracle']:
    facts['tree_diff'] = sorted(set(ours.items()) ^ set(theirs.items()))[:10]

  out = work / 'out'
  cli_args = ['predict', str(fasta), '--preset', PRESET, '--params', str(params), '--out', str(out)]
  if args.num_recycle is not None:
    cli_args += ['--num-recycle', str(args.num_recycle)]
  if out.exists():
    import shutil  # pylint: disable=import-outside-toplevel
    shutil.rmtree(out)
  proc, run_facts = run_cli(cli_args)
  facts.update(run_facts)
  facts['predict_stdout'] = proc.stdout.strip().splitlines()[-3:]
  if proc.returncode:
    facts['predict_stderr'] = proc.stderr.strip().splitlines()[-5:]
  else:
    info = json.loads((out / 'hetero.confidence.json').read_text())
    expected = {'A': len(seqs[0]), 'B': len(seqs[1])}
    facts.update({
        'pdb_chains': pdb_residues(out / 'hetero.pdb'),
        'cif_chains': cif_residues(out / 'hetero.cif'),
        'iptm': info.get('iptm'), 'ptm': info.get('ptm'),
        'ranking_confidence': info.get('ranking_confidence'),
        'mean_plddt': info.get('mean_plddt'), 'json_chain_ids': info.get('chain_ids')})
    facts['checks'] = {
        'pdb chains A/B, residues': facts['pdb_chains'] == expected,
        'mmCIF chains A/B, residues': facts['cif_chains'] == expected,
        'iptm and ptm in JSON': all(isinstance(info.get(k), float) for k in ('iptm', 'ptm')),
        'ranking = 0.8 iptm + 0.2 ptm': abs(info['ranking_confidence'] - (
            0.8 * info['iptm'] + 0.2 * info['ptm'])) <= 2e-4,
    }
  facts['ok'] = (proc.returncode == 0 and facts['tree_equals_oracle']
                 and all(facts.get('checks', {}).values()))
  (work / 'result.json').write_text(json.dumps(facts, indent=1))
  print(json.dumps(facts, indent=1))
  return 0 if facts['ok'] else 1


if __name__ == '__main__':
  sys.exit(main())
