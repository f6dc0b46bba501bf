"""`predict --preset nano_diffusion` (inference/diffusion_predict.py, cli/predict_diffusion.py):
random parameters at the preset's real widths, sequences of a few residues (one bucket of 16)."""

import json
import os

import jax
import numpy as np
import pytest
from Bio.PDB import PDBParser

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.config import diffusion_config
from alphafold_jax.geometry import rotation
from alphafold_jax.inference import diffusion_predict as dp
from alphafold_jax.inference import weights
from alphafold_jax.inference.memory import MemoryEstimateError
from alphafold_jax.inference.targets import Target
from alphafold_jax.params import save_alphafold_params
from tests.cli.cli_testing import assert_one_error_line, cli_run
from tests.random_params import DIFFUSION_STD, STACKED_SCOPES, random_params

PRESET = 'nano_diffusion'
SEQS = {'t1': 'MKTGAYIAKQ', 't2': 'GSXWEDG'}  # Gly and X: no CB there
IPA_WEIGHTS = weights.weights_dir() / 'nano_ipa.npz'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  """(config, random params, their .npz file, a predictor compiled for bucket 16)."""
  config = diffusion_config(PRESET)
  params = random_params(dp.expected_param_shapes(config), seed=1, stacked=STACKED_SCOPES,
                         **DIFFUSION_STD)
  path = tmp_path_factory.mktemp('diffusion') / 'random.npz'
  save_alphafold_params(params, path)
  return config, params, path, dp.DiffusionPredictor(config, params, buckets=(16,))


def test_parameter_file_is_small(setup):
  _, params, path, _ = setup
  count = sum(int(np.size(v)) for v in jax.tree.leaves(params))
  assert 250_000 < count < 320_000  # 284,890
  assert os.path.getsize(path) < 10 * 2 ** 20


def test_sampling_deterministic_per_seed(setup):
  predictor = setup[3]
  target = Target('t1', 't1', SEQS['t1'])
  a, b, c = (predictor.sample(target, s) for s in (3, 3, 4))
  assert np.array_equal(a.atom_positions, b.atom_positions)  # bitwise
  assert np.abs(a.atom_positions - c.atom_positions).max() > 1e-2
  assert predictor.num_compiles == 1 and a.atom_positions.shape == (10, 37, 3)
  refused = dp.DiffusionPredictor(setup[0], setup[1], buckets=(16,), available_bytes=1)
  with pytest.raises(MemoryEstimateError, match="'t1'"):
    refused.sample(target, 0)


def _ca_trace(n, rng):
  steps = rng.normal(size=(n, 3))
  steps = 3.8 * steps / np.linalg.norm(steps, axis=-1, keepdims=True)
  return np.cumsum(steps, axis=0)  # [n, 3]


def test_ranking_picks_the_medoid():
  rng = np.random.default_rng(0)
  base, shift = _ca_trace(12, rng), rng.normal(size=(12, 3))
  rots = np.asarray(rotation.random_rotation(jax.random.PRNGKey(1), (3,)))
  # X + 2e, X - 2e, X (each rigidly moved): X is the medoid; RMSDs are Kabsch-superposed.
  raw = [base + 2. * shift, base - 2. * shift, base + 0.3 * rng.normal(size=(12, 3))]
  ca = np.stack([r @ rots[i].T + 10. * i for i, r in enumerate(raw)])
  scores = dp.self_consistency(ca)
  assert dp.rank_by_score(scores['score'])[0] == 2
  m = scores['pairwise_ca_rmsd']
  np.testing.assert_allclose(m, m.T)
  np.testing.assert_allclose(scores['score'], (m.sum(1)) / 2.)
  assert m[2, 0] < m[0, 1] and m[2, 1] < m[0, 1]
  assert scores['mean_lddt_ca'][2] == scores['mean_lddt_ca'].max()
  assert scores['residue_lddt_ca'].shape == (3, 12)
  one = dp.self_consistency(ca[:1])
  assert dp.rank_by_score(one['score']) == [0] and one['score'][0] == 0.


def _write_fasta(path, records):
  path.write_text(''.join(f'>{k}\n{v}\n' for k, v in records.items()))
  return path


def test_cli_writes_ranked_samples(setup, tmp_path):
  path = setup[2]
  fasta = _write_fasta(tmp_path / 'in.fasta', {**SEQS, 'long': 'A' * 20})
  out = tmp_path / 'out'
  code, stdout, err = cli_run(['predict', fasta, '--preset', PRESET, '--params', path,
                               '--num-samples', 3, '--seed', 5, '--buckets', 16,
                               '--max-length', 15, '--out', out, '--quiet'])
  assert code == 0, err
  assert 'skipped' in err and "'long'" in err
  summary = json.loads((out / 'summary.json').read_text())
  assert summary['num_written'] == 2 and summary['num_skipped'] == 1
  assert summary['num_compiles'] == 1 and summary['ranking_metric'] == dp.RANKING_METRIC
  parser = PDBParser(QUIET=True)
  for name, seq in SEQS.items():
    ranking = json.loads((out / f'{name}.ranking.json').read_text())
    assert ranking['ranking_metric'] == dp.RANKING_METRIC
    assert [s['seed'] for s in ranking['samples']] == [5, 6, 7]
    scores = [s[dp.RANKING_METRIC] for s in ranking['samples']]
    assert ranking['order'] == sorted(range(3), key=lambda k: (scores[k], k))
    assert np.allclose(np.asarray(ranking['pairwise_ca_rmsd']).sum(1) / 2, scores, atol=2e-3)
    for k in range(3):
      assert (out / f'{name}.sample_{k}.pdb').is_file() and (out / f'{name}.sample_{k}.cif').is_file()
    best = ranking['order'][0]
    structure = parser.get_structure(name, str(out / f'{name}.pdb'))
    residues = list(structure[0]['A'])
    assert len(residues) == len(seq)
    for residue, letter in zip(residues, seq):
      want = {'N', 'CA', 'C', 'O'} | ({'CB'} if letter not in 'GX' else set())
      assert {a.get_id() for a in residue} == want, (letter, residue)
      assert residue.get_resname() == rc.restype_1to3.get(letter, 'UNK')
    # NAME.pdb is the first-ranked sample.
    best_sample = parser.get_structure('b', str(out / f'{name}.sample_{best}.pdb'))
    np.testing.assert_array_equal([a.coord for a in structure.get_atoms()],
                                  [a.coord for a in best_sample.get_atoms()])


@pytest.mark.parametrize('extra, names', [
    (['--num-samples', '0'], ['--num-samples', '>= 1']),
    (['--relax', 'best'], ['--relax', 'backbone']),
    (['--msa', 'x.a3m'], ['--msa', 'single-sequence']),
    (['--templates', 'somewhere'], ['--templates']),
    (['--models', 'model_1'], ['--models']),
    (['--num-recycle', '2'], ['--num-recycle', PRESET]),
    (['--params', str(IPA_WEIGHTS)], ['nano_ipa.npz']),
])
def test_bad_inputs_one_line(setup, tmp_path, extra, names):
  fasta = _write_fasta(tmp_path / 'in.fasta', {'t1': SEQS['t1']})
  argv = ['predict', fasta, '--preset', PRESET, '--out', tmp_path / 'out', *extra]
  if '--params' not in extra:
    argv += ['--params', setup[2]]
  assert_one_error_line(cli_run(argv), 'predict', *names)
  assert not (tmp_path / 'out').exists()


def test_missing_bundled_weights_and_default_preset(monkeypatch, tmp_path):
  monkeypatch.setattr(weights, 'weights_dir', lambda: tmp_path)
  fasta = _write_fasta(tmp_path / 'in.fasta', {'t1': SEQS['t1']})
  assert_one_error_line(cli_run(['predict', fasta, '--preset', PRESET, '--out', tmp_path / 'o']),
                        'predict', "no bundled weights for preset 'nano_diffusion'", '--params')
  assert not (tmp_path / 'o').exists()
  # A bundled diffusion preset is never the default of a plain `predict`.
  for name in ('nano_ipa', PRESET):
    (tmp_path / f'{name}.npz').write_bytes(b'')
  assert weights.default_preset() == 'nano_ipa'
