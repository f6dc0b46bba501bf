"""Issue 23, one test per numbered finding: exit code, the one-line message naming the file or
flag, and the files present afterwards. Inputs are made in the tests; the only model compile is
the shared `predict_run` (conftest.py)."""

import gzip
import json
import os
import shutil
import signal
import stat

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.inference import memory, outputs, predict
from alphafold_jax.inference.targets import Target
from alphafold_jax.params import save_alphafold_params
from data_pipeline import parsers
from data_pipeline.errors import ParseError

from tests.cli.cli_testing import (DATA, NANO, SEQ_SHORT, assert_one_error_line, cli_run,
                                leftovers)

ENV_MEM = 'ALPHAFOLD_JAX_AVAILABLE_MEMORY_MIB'


def _strict_json(path):
  """json.load that fails on NaN / Infinity (not JSON)."""
  def reject(token):
    raise AssertionError(f'{path} holds {token}')
  with open(path, encoding='utf-8') as f:
    return json.load(f, parse_constant=reject)


def _predict_args(tmp_path, tiny_npz, fasta_text, *extra):
  fasta = tmp_path / 'in.fasta'
  fasta.write_text(fasta_text)
  return ['predict', fasta, '--preset', 'tiny', '--params', tiny_npz[0], '--num-recycle', '0',
          '--buckets', '16', '--out', tmp_path / 'out', '--quiet', *extra]


@pytest.fixture()
def no_model(monkeypatch):
  """Fails the test if the model would run (checks must come before any work)."""
  def forbidden(*args, **kwargs):
    raise AssertionError('the model ran although the input is bad')
  monkeypatch.setattr(predict.Predictor, 'predict', forbidden)


# 1. A long sequence crashes the whole run -------------------------------------------------------

def test_1_memory_refusal_is_per_target_and_short_target_is_written(predict_run):
  (code, stdout, stderr), out = predict_run
  assert code == 1, stderr
  refusal = [l for l in stderr.splitlines() if "target 'long' failed" in l]
  assert len(refusal) == 1 and 'Traceback' not in stderr
  assert 'needs about' in refusal[0] and '8.0 MiB is available' in refusal[0]
  assert '--max-length' in refusal[0] and '--buckets' in refusal[0]
  names = set(os.listdir(out))
  assert {'short.pdb', 'short.cif', 'short.confidence.json', 'short.ranking.json',
          'summary.json'} <= names
  assert not any(n.startswith('long') for n in names)
  assert leftovers(out.parent) == []
  summary = _strict_json(out / 'summary.json')
  status = {t['name']: t['status'] for t in summary['targets']}
  assert status == {'short': 'ok', 'long': 'failed'}
  assert 'needs about' in summary['targets'][1]['error']
  assert summary['num_written'] == 1 and summary['num_failed'] == 1
  assert 'short: 14 residues' in stdout


def test_1_out_of_memory_at_run_time_is_isolated(tmp_path, tiny_npz, monkeypatch):
  """An XLA allocation failure of one target (not predicted by the estimate) is recorded and
  the other target is still written."""
  real_sample = predict.Sample(seed=0, final_atom_positions=np.zeros((14, 37, 3), np.float32),
                               final_atom_mask=np.ones((14, 37), np.float32),
                               plddt=np.full(14, 50., np.float32), num_recycles=0, bucket=16)

  def fake_predict(self, target, seed=0, raw=None):
    if target.name == 'big':
      raise RuntimeError('RESOURCE_EXHAUSTED: Out of memory while trying to allocate 12.0G')
    return real_sample
  monkeypatch.setattr(predict.Predictor, 'predict', fake_predict)
  args = _predict_args(tmp_path, tiny_npz, f'>ok\n{SEQ_SHORT}\n>big\n{SEQ_SHORT}W\n', '--no-plots')
  code, _, stderr = cli_run(args)
  assert code == 1 and "target 'big' failed: out of memory" in stderr
  assert (tmp_path / 'out' / 'ok.pdb').exists() and not (tmp_path / 'out' / 'big.pdb').exists()
  summary = _strict_json(tmp_path / 'out' / 'summary.json')
  assert [t['status'] for t in summary['targets']] == ['ok', 'failed']


def test_1_compiled_estimate_and_available_memory():
  """The compiled estimate reads XLA's memory analysis; the refusal names the flags."""
  import jax  # pylint: disable=import-outside-toplevel
  compiled = jax.jit(lambda x: (x @ x).sum()).lower(np.ones((64, 64), np.float32)).compile()
  need = memory.compiled_bytes(compiled)
  assert need is not None and need >= 64 * 64 * 4
  os.environ[ENV_MEM] = '1.5'
  try:
    assert memory.available_bytes() == int(1.5 * memory.MIB)
  finally:
    del os.environ[ENV_MEM]
  assert memory.available_bytes() > 0

  with pytest.raises(memory.MemoryEstimateError,
                     match=r"'t' \(100 residues, bucket 128\) needs about 10.00 GiB \(compiled "
                           r'estimate\) but 1.00 GiB is available; try --max-length 99'):
    memory.check_fits(10 * memory.GIB, memory.GIB, 'compiled estimate', 128, 't', 100)
  with pytest.raises(memory.MemoryEstimateError, match='--buckets with a bucket >= 100'):
    memory.check_fits(10 * memory.GIB, memory.GIB, 'analytic lower bound', 512, 't', 100)


# 2. Tracebacks ------------------------------------------------------------------------------------

def test_2_npy_params_and_huge_seed(tmp_path, tiny_npz, no_model):
  npy = tmp_path / 'weights.npy'
  np.save(npy, np.zeros(3, np.float32))
  args = _predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n')
  args[args.index('--params') + 1] = npy
  assert_one_error_line(cli_run(args), 'predict', str(npy), '.npy')
  assert_one_error_line(cli_run(_predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n',
                                              '--seed', str(10 ** 30))), 'predict', '--seed')
  assert_one_error_line(cli_run(_predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n',
                                              '--num-recycle', str(10 ** 12))),
                        'predict', '--num-recycle')
  assert not (tmp_path / 'out').exists()


# 3. Silent overwrite ------------------------------------------------------------------------------

def test_3_output_names_collide_before_any_work(tmp_path, tiny_npz, no_model):
  args = _predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n>a.sample_0\n{SEQ_SHORT}\n',
                       '--num-samples', '2')
  assert_one_error_line(cli_run(args), 'predict', "'a'", "'a.sample_0'", 'a.sample_0.pdb')
  assert not (tmp_path / 'out').exists() and leftovers(tmp_path) == []


# 4. Bad numbers accepted --------------------------------------------------------------------------

@pytest.mark.parametrize('kind', ['nan', 'int32'])
def test_4_params_must_be_finite_floats(tmp_path, tiny_npz, no_model, kind):
  params = {s: {n: (np.full_like(v, np.nan) if kind == 'nan' else v.astype(np.int32))
                for n, v in leaves.items()} for s, leaves in tiny_npz[1].items()}
  bad = tmp_path / f'{kind}.npz'
  save_alphafold_params(params, bad)
  args = _predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n')
  args[args.index('--params') + 1] = bad
  line = assert_one_error_line(cli_run(args), 'predict', str(bad))
  assert ('non-finite' if kind == 'nan' else 'dtype int32') in line
  assert not (tmp_path / 'out').exists()


def test_4_json_never_holds_nan(tmp_path):
  path = tmp_path / 'x.json'
  outputs.write_json(str(path), {'a': float('nan'), 'b': [1.0, float('inf')], 'c': np.float32(2)})
  assert _strict_json(path) == {'a': None, 'b': [1.0, None], 'c': 2.0}


def test_4_nan_prediction_is_a_failed_target_not_a_file(tmp_path):
  sample = predict.Sample(seed=0, final_atom_positions=np.full((3, 37, 3), np.nan, np.float32),
                          final_atom_mask=np.ones((3, 37), np.float32), plddt=np.zeros(3),
                          num_recycles=0, bucket=16)
  prot = outputs.prediction_to_protein('ACD', sample)  # building it is fine, writing refuses
  for write in (protein_lib.to_pdb, protein_lib.to_mmcif):
    with pytest.raises(protein_lib.StructureError, match='non-finite'):
      write(prot)
  far = prot.replace(atom_positions=np.full((3, 37, 3), -1500., np.float32))
  with pytest.raises(protein_lib.StructureError, match='beyond the PDB columns'):
    protein_lib.to_pdb(far)
  assert protein_lib.to_mmcif(far)  # mmCIF has no column limit


def _cif_with(prot, positions, tmp_path, name):
  path = tmp_path / name
  path.write_text(protein_lib.to_mmcif(prot.replace(atom_positions=positions)) if np.all(
      np.isfinite(positions)) else protein_lib.to_mmcif(prot).replace(
          f'{prot.atom_positions[0, 0, 0]:.3f}', 'nan', 1))
  return path


def test_4_score_nan_far_translated_and_run_together_columns(tmp_path):
  ref = NANO / '1CRN.pdb'
  model_path = DATA / '1CRN_rotated.pdb'
  model = protein_lib.from_file(model_path)
  code, base_out, _ = cli_run(['score', model_path, ref, '--json'])
  assert code == 0
  base = json.loads(base_out)['ca_rmsd']
  # NaN coordinates: refused, naming the MODEL file.
  nan_cif = _cif_with(model, model.atom_positions * np.nan, tmp_path, 'nan.cif')
  assert_one_error_line(cli_run(['score', nan_cif, ref]), 'score', 'MODEL', str(nan_cif),
                        'non-finite')
  # Translated by 5e4 A (inside the stated 1e5 A bound): the same score.
  far = _cif_with(model, model.atom_positions + np.float32(5e4), tmp_path, 'far.cif')
  code, far_out, _ = cli_run(['score', far, ref, '--json'])
  assert code == 0 and abs(json.loads(far_out)['ca_rmsd'] - base) < 0.02
  # Translated by 1e9 A: refused (float32 cannot hold it to 0.01 A), naming the file.
  huge = _cif_with(model, model.atom_positions + np.float32(1e9), tmp_path, 'huge.cif')
  assert_one_error_line(cli_run(['score', huge, ref]), 'score', str(huge), 'beyond +-100000')
  # PDB line whose y <= -1000 runs into x: refused, naming file and line.
  lines = (NANO / '1CRN.pdb').read_text().splitlines()
  i = next(k for k, l in enumerate(lines) if l.startswith('ATOM'))
  lines[i] = lines[i][:30] + f'{11.104:8.3f}{-1234.5:8.3f}{-1.0:8.3f}' + lines[i][54:]
  glued = tmp_path / 'glued.pdb'
  glued.write_text('\n'.join(lines) + '\n')
  assert_one_error_line(cli_run(['score', glued, ref]), 'score', 'MODEL', str(glued),
                        f'line {i + 1}')


# 5. Late failures ---------------------------------------------------------------------------------

def test_5_unwritable_out_fails_before_any_work(tmp_path, tiny_npz, no_model):
  (tmp_path / 'file.txt').write_text('x')
  for out in (tmp_path / 'file.txt', tmp_path / 'file.txt' / 'sub'):
    args = _predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n')
    args[args.index('--out') + 1] = out
    assert_one_error_line(cli_run(args), 'predict', '--out', str(out))
  assert sorted(os.listdir(tmp_path)) == ['file.txt', 'in.fasta']
  if os.geteuid() != 0:  # root writes into read-only directories
    ro = tmp_path / 'ro'
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    args[args.index('--out') + 1] = ro
    assert_one_error_line(cli_run(args), 'predict', '--out', 'not writable')


def _train(data, out, *extra):
  return cli_run(['train', '--preset', 'tiny_ca', '--data', data, '--out', out, '--no-progress',
                  '--set', 'warmup_steps=1', '--set', 'max_recycle=0', *extra])


def test_5_and_7_training_data_validated_up_front(tmp_path):
  """No-CA and corrupt structures are skipped, named and counted; .pdb.gz is read; --resume
  without checkpoint says so; --resume --steps below the checkpoint is an error."""
  data = tmp_path / 'data'
  data.mkdir()
  shutil.copy(NANO / '1L2Y.pdb', data / '1L2Y.pdb')
  (data / '1VII.pdb.gz').write_bytes(gzip.compress((NANO / '1VII.pdb').read_bytes()))
  no_ca = [l for l in (NANO / '1CRN.pdb').read_text().splitlines()
           if not (l.startswith('ATOM') and l[12:16].strip() == 'CA')]
  (data / 'noca.pdb').write_text('\n'.join(no_ca) + '\n')
  (data / 'corrupt.cif').write_text('data_x\nloop_\n_atom_site.id\n_atom_site.Cartn_x\n1\n')
  out = tmp_path / 'run'
  code, stdout, stderr = _train(data, out, '--steps', '2', '--resume', '--checkpoint-every', '2')
  assert code == 0, stderr
  assert 'no checkpoint' in stderr and '--resume' in stderr
  warnings = [l for l in stderr.splitlines() if 'skipping' in l]
  assert len(warnings) == 2 and any('noca.pdb' in l and 'no CA' in l for l in warnings)
  assert any('corrupt.cif' in l for l in warnings)
  assert 'using 2 of 4 structure files (2 skipped)' in stderr
  evaluation = _strict_json(out / 'eval.json')
  assert [r['name'] for r in evaluation['structures']] == ['1L2Y', '1VII']
  assert sorted(evaluation['skipped_structures']) == ['corrupt.cif', 'noca.pdb']
  assert 'to step 2' in stdout
  before = sorted(os.listdir(out))
  assert_one_error_line(_train(data, out, '--steps', '1', '--resume'), 'train', '--steps 1',
                        'step 2')
  assert_one_error_line(_train(data, out, '--steps', '3'), 'train', '--resume')
  assert sorted(os.listdir(out)) == before
  # Nothing usable at all: one error before any work, no run directory.
  bad = tmp_path / 'bad'
  bad.mkdir()
  (bad / 'noca.pdb').write_text('\n'.join(no_ca) + '\n')
  assert_one_error_line(_train(bad, tmp_path / 'run2', '--steps', '1'), 'train',
                        'no usable structure', str(bad))
  assert not (tmp_path / 'run2').exists()


# 6. Leftovers -------------------------------------------------------------------------------------

def test_6_sigterm_like_sigint_and_stale_staging_cleaned(tmp_path, tiny_npz, monkeypatch):
  stale_dead = tmp_path / '.out.tmp-999999999-abcd1234'  # a killed run's staging (no such pid)
  stale_old = tmp_path / '.out.tmp-k2j3h4g5'  # staging of the format before issue 23
  alive = tmp_path / f'.out.tmp-{os.getppid()}-live0000'  # a running process: kept
  for d in (stale_dead, stale_old, alive):
    d.mkdir()
    (d / 'partial.pdb').write_text('ATOM')

  def terminated(self, target, seed=0, raw=None):
    os.kill(os.getpid(), signal.SIGTERM)  # a real SIGTERM to this process, mid-run
    raise AssertionError('SIGTERM was not handled')
  monkeypatch.setattr(predict.Predictor, 'predict', terminated)
  code, _, stderr = cli_run(_predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n'))
  assert code == 143 and 'terminated (SIGTERM)' in stderr and 'Traceback' not in stderr
  assert not (tmp_path / 'out').exists()  # created by the run, nothing finished: removed
  assert leftovers(tmp_path) == [alive.name]
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored


# 7. Silent surprises (train parts: test_5_and_7_...) ----------------------------------------------

def test_7_padding_announced(predict_run):
  (_, _, stderr), out = predict_run
  assert "warning: target 'long' (200 residues) is padded to 512 residues" in stderr
  assert 'add a bucket >= 200 to --buckets' in stderr
  assert _strict_json(out / 'summary.json')['warnings']


def test_7_stockholm_header_and_a3m_digits(tmp_path, tiny_npz, no_model):
  with pytest.raises(ParseError, match='STOCKHOLM'):
    parsers.parse_stockholm(f'query {SEQ_SHORT}\n')
  with pytest.raises(ParseError, match="invalid character '1'"):
    parsers.parse_a3m(f'>q\n{SEQ_SHORT}\n>hit\n{"1" * len(SEQ_SHORT)}\n')
  sto = tmp_path / 'x.sto'
  sto.write_text(f'query {SEQ_SHORT}\n//\n')
  a3m = tmp_path / 'x.a3m'
  a3m.write_text(f'>q\n{SEQ_SHORT}\n>hit\n{"7" * len(SEQ_SHORT)}\n')
  for msa in (sto, a3m):
    args = _predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n', '--msa', msa)
    assert_one_error_line(cli_run(args), 'predict', str(msa))
  assert not (tmp_path / 'out').exists()


# 8. Misleading messages ---------------------------------------------------------------------------

def test_8_messages_say_what_is_wrong(tmp_path, tiny_npz, no_model, one_model_pdb):
  text = tmp_path / 'notes.txt'
  text.write_text('these are not parameters\n')
  args = _predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n')
  args[args.index('--params') + 1] = text
  line = assert_one_error_line(cli_run(args), 'predict', str(text), 'not an .npz')
  assert 'pickle' not in line
  args[args.index('--params') + 1] = tmp_path
  assert_one_error_line(cli_run(args), 'predict', 'is a directory')
  empty = tmp_path / 'empty_run'
  empty.mkdir()
  args = _predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n')
  i = args.index('--params')
  args[i:i + 2] = ['--checkpoint', empty]
  args.remove('--preset'), args.remove('tiny')
  assert_one_error_line(cli_run(args), 'predict', 'no finalised checkpoint', str(empty))
  a3m = tmp_path / 'empty.a3m'
  a3m.write_text('')
  line = assert_one_error_line(
      cli_run(_predict_args(tmp_path, tiny_npz, f'>a\n{SEQ_SHORT}\n', '--msa', a3m)),
      'predict', str(a3m), 'empty')
  assert 'FASTA' not in line
  pdb_text, cif_text = one_model_pdb
  rows = cif_text.splitlines()
  k = next(j for j, l in enumerate(rows) if l.startswith('ATOM') and j > 40)
  rows[k] = ' '.join(rows[k].split()[:-3])  # a ragged row in the middle of _atom_site
  ragged = tmp_path / 'ragged.cif'
  ragged.write_text('\n'.join(rows) + '\n')
  good = tmp_path / 'good.pdb'
  good.write_text(pdb_text)
  line = assert_one_error_line(cli_run(['score', good, ragged]), 'score', 'REFERENCE',
                               str(ragged), 'missing or extra values')
  assert 'model number' not in line
  assert_one_error_line(cli_run(['score', ragged, good]), 'score', 'MODEL', str(ragged))
  assert not (tmp_path / 'out').exists()


# 9. Absolute paths --------------------------------------------------------------------------------

def test_9_json_outputs_hold_no_absolute_paths(predict_run):
  _, out = predict_run
  for name in ('summary.json', 'short.confidence.json', 'short.ranking.json'):
    text = (out / name).read_text()
    _strict_json(out / name)
    assert str(out.parent) not in text and '"/' not in text, (name, text[:300])
  assert _strict_json(out / 'summary.json')['params'] == 'parameter file tiny.npz'


def test_target_outcome_api_keeps_predict_targets(tiny_npz):
  """The old generator stays; run_targets adds isolation and --max-length skipping."""
  assert callable(predict.predict_targets)
  outcomes = list(predict.run_targets(_NoModel(), [Target('a', 'a', 'ACDE'),
                                                   Target('b', 'b', 'ACDEFGHIK')], max_length=5))
  assert [(o.target.name, o.status) for o in outcomes] == [('a', 'failed'), ('b', 'skipped')]
  assert '--max-length 5' in outcomes[1].error


class _NoModel:
  buckets = (16,)

  def bucket_for(self, n):
    return 16

  def predict(self, target, seed, raw):
    raise ValueError('bad thing')
