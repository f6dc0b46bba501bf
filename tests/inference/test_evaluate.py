"""`alphafold-jax evaluate --pred DIR --ref DIR` on real structures (in-process main())."""

import json
import shutil

import numpy as np
import pytest

from alphafold_jax.common import protein
from alphafold_jax import cli
from alphafold_jax.inference import evaluate
from alphafold_jax.metrics.scoring import score_proteins


@pytest.fixture
def dirs(tmp_path, data_dir):
  """ref/: 1CRN, 1L2Y, 1VII. pred/: noisy crambin (lower-case name), exact 1L2Y as mmCIF,
  no 1VII, and files that must be ignored (a sample without reference, a JSON)."""
  nano = data_dir / 'structures' / 'nano'
  ref, pred = tmp_path / 'ref', tmp_path / 'pred'
  ref.mkdir()
  pred.mkdir()
  for name in ('1CRN', '1L2Y', '1VII'):
    shutil.copy(nano / f'{name}.pdb', ref / f'{name}.pdb')
  crambin = protein.from_file(nano / '1CRN.pdb')
  rng = np.random.default_rng(11)
  noisy = crambin.replace(atom_positions=crambin.atom_positions
                          + rng.normal(size=crambin.atom_positions.shape).astype(np.float32))
  (pred / '1crn.pdb').write_text(protein.to_pdb(noisy))
  (pred / '1L2Y.cif').write_text(protein.to_mmcif(protein.from_file(nano / '1L2Y.pdb')))
  (pred / '1CRN.sample_0.pdb').write_text(protein.to_pdb(crambin))
  (pred / '1CRN.confidence.json').write_text('{}')
  return pred, ref, noisy, crambin


def test_evaluate_table_and_json(dirs, tmp_path, capsys):
  pred, ref, noisy, crambin = dirs
  out_json = tmp_path / 'scores.json'
  code = cli.main(['evaluate', '--pred', str(pred), '--ref', str(ref), '--out', str(out_json)])
  table = capsys.readouterr().out
  assert code == 0
  report = json.loads(out_json.read_text())
  rows = {r['name']: r for r in report['targets']}
  assert set(rows) == {'1CRN', '1L2Y'} and report['missing'] == ['1VII']
  assert rows['1CRN']['prediction'].endswith('1crn.pdb')
  # the noisy crambin (as written, 3-decimal coordinates): same numbers as `score`, imperfect
  direct = score_proteins(protein.from_file(pred / '1crn.pdb'), crambin)
  assert direct['ca_rmsd'] == pytest.approx(score_proteins(noisy, crambin)['ca_rmsd'],
                                            abs=1e-3)
  for key in evaluate.METRICS:
    assert rows['1CRN'][key] == pytest.approx(direct[key], abs=1e-6)
  assert 0.3 < rows['1CRN']['ca_rmsd'] < 3. and 0.2 < rows['1CRN']['tm_score'] < 0.99
  # the exact copy (read back from mmCIF): perfect
  assert rows['1L2Y']['ca_rmsd'] < 1e-3 and rows['1L2Y']['tm_score'] == pytest.approx(1.)
  assert rows['1L2Y']['gdt_ts'] == pytest.approx(1.) and rows['1L2Y']['lddt_ca'] == pytest.approx(1.)
  for key in evaluate.METRICS:
    assert report['mean'][key] == pytest.approx((rows['1CRN'][key] + rows['1L2Y'][key]) / 2)
  assert report['num_scored'] == 2 and report['num_failed'] == 0
  # table: one line per target, the mean, the missing reference
  lines = table.splitlines()
  assert lines[0].split() == ['target', 'CA-RMSD', 'lDDT-Ca', 'TM-score', 'GDT-TS', 'N']
  crn = next(line for line in lines if line.startswith('1CRN'))
  assert f"{rows['1CRN']['ca_rmsd']:.3f}" in crn and f"{rows['1CRN']['tm_score']:.4f}" in crn
  assert any(line.startswith('mean (2)') for line in lines)
  assert lines[-1] == 'no prediction for: 1VII'


def test_evaluate_json_flag_and_failed_target(dirs, capsys):
  pred, ref, _, _ = dirs
  (pred / '1VII.pdb').write_text('ATOM  garbage\n')
  code = cli.main(['evaluate', '--pred', str(pred), '--ref', str(ref), '--json'])
  report = json.loads(capsys.readouterr().out)
  assert code == 1  # one target could not be scored
  rows = {r['name']: r for r in report['targets']}
  assert 'error' in rows['1VII'] and 'ca_rmsd' not in rows['1VII']
  assert report['num_failed'] == 1 and report['num_scored'] == 2 and report['missing'] == []


@pytest.mark.parametrize('case, message', [
    ('no_pred_dir', 'prediction directory not found'),
    ('empty_ref', 'no structure files'),
    ('no_match', 'no prediction in'),
])
def test_evaluate_input_errors(dirs, tmp_path, capsys, case, message):
  pred, ref, _, _ = dirs
  if case == 'no_pred_dir':
    pred = tmp_path / 'nope'
  elif case == 'empty_ref':
    ref = tmp_path / 'empty'
    ref.mkdir()
  else:
    for f in pred.iterdir():
      f.rename(pred / f'other_{f.name}')
  code = cli.main(['evaluate', '--pred', str(pred), '--ref', str(ref)])
  err = capsys.readouterr().err
  assert code == 2 and 'alphafold-jax evaluate: error:' in err and message in err


def test_structure_stem():
  assert evaluate.structure_stem('1CRN.pdb') == '1CRN'
  assert evaluate.structure_stem('x.y.cif.gz') == 'x.y'
  assert evaluate.structure_stem('a.confidence.json') is None
  assert evaluate.structure_stem('.pdb') is None
