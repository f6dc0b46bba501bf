"""`alphafold-jax predict` with a multimer preset: ColabFold `A:B` and AF2 multi-record FASTA,
per-chain MSAs, random parameters in the npz layout -> two-chain PDB (A, B), ipTM in the JSON;
bad complexes give one error line and no files. (tiny_multimer: the multimer architecture at
small widths, so the test stays fast; the full presets share every code path.)"""

import json
import pathlib

import numpy as np
import pytest

from alphafold_jax import cli
from alphafold_jax.common import residue_constants as rc
from alphafold_jax.config import model_config
from alphafold_jax.model import RunModel
from alphafold_jax.params import save_alphafold_params
from data_pipeline import parsers
from alphafold_jax.inference.complexes import parse_complexes
from data_pipeline.multimer import ChainInput, make_multimer_features
from tests.random_params import STACKED_SCOPES, random_params

MSA = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'msa'
A3M_A = MSA / 'af2_pipeline_example' / 'bfd_uniclust_hits.a3m'
A3M_B = MSA / 'egf_1A3P_A' / 'bfd_uniclust_hits.a3m'


def _query(path):
  return parsers.parse_a3m(path.read_text()).sequences[0]


@pytest.fixture(scope='module')
def params_file(tmp_path_factory):
  # random values in the model's parameter tree (no init compile)
  model = RunModel(model_config('tiny_multimer'))
  feats = make_multimer_features([ChainInput('ACDEFGHIK'), ChainInput('LMNPQRSTV')])
  params = random_params(model.param_shapes(feats), seed=0, stacked=STACKED_SCOPES)
  path = tmp_path_factory.mktemp('params') / 'params_tiny_multimer.npz'
  save_alphafold_params(params, path)
  return str(path)


def _pdb_chains(text):
  chains = {}
  for line in text.splitlines():
    if line.startswith('ATOM'):
      chains.setdefault(line[21], set()).add(int(line[22:26]))
  return {k: len(v) for k, v in chains.items()}


def test_predict_colabfold_dimer_writes_two_chains_with_iptm(tmp_path, params_file, capsys):
  seq_a, seq_b = _query(A3M_A), _query(A3M_B)
  fasta = tmp_path / 'complex.fasta'
  fasta.write_text(f'>dimer\n{seq_a}:{seq_b}\n')
  out = tmp_path / 'out'
  rc = cli.main(['predict', str(fasta), '--preset', 'tiny_multimer', '--params', params_file,
                 '--msa', str(A3M_A), '--msa', f'B={A3M_B}', '--num-samples', '2',
                 '--out', str(out), '--quiet'])
  assert rc == 0, capsys.readouterr().err
  assert _pdb_chains((out / 'dimer.pdb').read_text()) == {'A': len(seq_a), 'B': len(seq_b)}
  from Bio.PDB import MMCIFParser
  cif = MMCIFParser(QUIET=True).get_structure('d', str(out / 'dimer.cif'))
  assert [c.id for c in cif[0]] == ['A', 'B']
  info = json.loads((out / 'dimer.confidence.json').read_text())
  assert info['chain_ids'] == ['A', 'B'] and 0.0 <= info['iptm'] <= 1.0
  assert info['ranking_confidence'] == pytest.approx(0.8 * info['iptm'] + 0.2 * info['ptm'],
                                                     abs=2e-4)
  ranking = json.loads((out / 'dimer.ranking.json').read_text())
  assert sorted(ranking['order']) == [0, 1]
  assert ranking['ranking_confidence'] == sorted(ranking['ranking_confidence'], reverse=True)
  assert (out / 'dimer.pae.png').exists()
  assert np.asarray(info['predicted_aligned_error']).shape == (len(seq_a) + len(seq_b),) * 2


def test_outputs_follow_the_fasta_chain_order():
  """X:Y:X is merged as X, X, Y (entity order); outputs map back to A=X, B=Y, C=X."""
  from alphafold_jax.inference.complexes import input_order
  cplx = parse_complexes('>t\nMKTAYIAK:GSHM:MKTAYIAK\n')[0]
  feats = make_multimer_features([ChainInput(s) for s in cplx.sequences])
  perm = input_order(cplx, feats)
  letters = rc.restypes_with_x
  assert ''.join(letters[a] for a in feats['aatype'][perm]) == ''.join(cplx.sequences)
  assert list(feats['asym_id'][perm]) == [1] * 8 + [3] * 4 + [2] * 8


def test_complex_rule_af2_records_and_colabfold_colons():
  one = parse_complexes('>first desc\nMKTAYIAKQR\n>second\nGSHMLEDPVA\n>third\nMKTAYIAKQR\n')
  assert [(c.name, c.sequences, c.chain_ids) for c in one] == [
      ('first', ('MKTAYIAKQR', 'GSHMLEDPVA', 'MKTAYIAKQR'), ('A', 'B', 'C'))]
  two = parse_complexes('>d1\nMKTA:GSHM\n>m2\nACDE\n')  # any ':' -> one complex per record
  assert [(c.name, c.sequences) for c in two] == [('d1', ('MKTA', 'GSHM')), ('m2', ('ACDE',))]


@pytest.mark.parametrize('fasta_text,msa,words', [
    ('>x\n{a}:{b}\n', 'B={a3m_a}', 'does not match chain B'),
    ('>x\n{a}::{b}\n', None, 'chain B is empty'),
    ('>x\n' + ':'.join(['ACD'] * 63) + '\n', None, 'at most 62'),
    ('>x\nACDEF:GHIKL\n', '{a3m_a}', 'matches no chain'),
])
def test_bad_complex_input_one_line_error(tmp_path, params_file, capsys, fasta_text, msa, words):
  seq_a, seq_b = _query(A3M_A), _query(A3M_B)
  fasta = tmp_path / 'bad.fasta'
  fasta.write_text(fasta_text.format(a=seq_a, b=seq_b))
  argv = ['predict', str(fasta), '--preset', 'tiny_multimer', '--params', params_file,
          '--out', str(tmp_path / 'out'), '--quiet']
  if msa:
    argv += ['--msa', msa.format(a3m_a=A3M_A)]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err.strip()
  assert words in err and len(err.splitlines()) == 1, err
  assert not (tmp_path / 'out').exists()
