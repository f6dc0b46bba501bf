"""`alphafold-jax predict` end to end on the 'tiny' preset with random params, bucketing,
parameter sources and bad inputs (clear message, exit code 2, no output files).

Cost: one XLA compile of the tiny model (the `run` fixture, shared by the end-to-end tests);
every bad-input test fails before any compile.
"""

import json
import logging
import os

import jax
import numpy as np
import pytest
from Bio.PDB import MMCIFParser, PDBParser
from Bio.SeqUtils import seq1

from alphafold_jax.config import model_config
from alphafold_jax import cli
from alphafold_jax.inference import predict, weights
from alphafold_jax.inference.targets import Target
from alphafold_jax.params import ParamsError, save_alphafold_params
from tests.random_params import STACKED_SCOPES, random_params

SEQ_A = 'MKTAYIAKQRQISF'  # 14 residues
SEQ_B = 'GSHMWEDPVKC'  # 11 residues: same bucket (16) as SEQ_A
A3M_A = f""">query
{SEQ_A}
>hit1 with insertions
MKTAYkkIAKQRQI-F
>hit2
-KSAYIAKQRQLSF
"""


# The pair representation of random models is large (std ~1e3): the PAE head is scaled down and
# the pLDDT head up, to get per-residue/per-pair varying confidences.
HEAD_GAINS = {'lddt_head': 3., 'aligned_error_head': 0.01}


@pytest.fixture(scope='module')
def tiny_params(tmp_path_factory):
  """(npz path, params, expected shapes) of the tiny preset."""
  config = model_config('tiny', num_recycle=0)
  shapes = weights.expected_param_shapes(config)
  params = random_params(shapes, seed=3, scale_std=0.1, bias_std=0.1, gains=HEAD_GAINS,
                         stacked=STACKED_SCOPES)
  path = tmp_path_factory.mktemp('params') / 'tiny_random.npz'
  save_alphafold_params(params, path)
  return path, params, shapes


class _LogRecords(logging.Handler):
  def __init__(self):
    super().__init__(logging.INFO)
    self.messages = []

  def emit(self, record):
    self.messages.append(record.getMessage())


@pytest.fixture(scope='module')
def run(tmp_path_factory, tiny_params):
  """One CLI run: two targets in one bucket, an MSA for the first, 2 samples per target."""
  work = tmp_path_factory.mktemp('predict')
  (work / 'in.fasta').write_text(f'>protA some protein\n{SEQ_A[:7]}\n{SEQ_A[7:]}\n\n'
                                 f'>protB other\n{SEQ_B.lower()}*\n')
  (work / 'a.a3m').write_text(A3M_A)
  logger = logging.getLogger('alphafold_jax.inference.predict')
  records, level = _LogRecords(), logger.level
  logger.addHandler(records)
  logger.setLevel(logging.INFO)
  try:
    code = cli.main(['predict', str(work / 'in.fasta'), '--msa', str(work / 'a.a3m'),
                     '--preset', 'tiny', '--params', str(tiny_params[0]), '--num-recycle', '0',
                     '--num-samples', '2', '--seed', '3', '--buckets', '16,32',
                     '--out', str(work / 'out'), '--quiet'])
  finally:
    logger.removeHandler(records)
    logger.setLevel(level)
  return code, work / 'out', records.messages


def test_predict_writes_every_file(run):
  code, out, _ = run
  assert code == 0
  names = set(os.listdir(out))
  for name in ('protA', 'protB'):
    for suffix in ('.pdb', '.cif', '.confidence.json', '.ranking.json', '.pae.png',
                   '.plddt.png', '.sample_0.pdb', '.sample_1.cif', '.sample_1.confidence.json'):
      assert f'{name}{suffix}' in names
  assert 'summary.json' in names
  assert not [n for n in os.listdir(out.parent) if n.startswith('.out.tmp')]


def test_pdb_reads_back_with_sequence_and_plddt_bfactors(run):
  _, out, _ = run
  for name, seq in (('protA', SEQ_A), ('protB', SEQ_B)):
    conf = json.loads((out / f'{name}.confidence.json').read_text())
    assert conf['sequence'] == seq and len(conf['plddt']) == len(seq)
    structure = PDBParser(QUIET=True).get_structure(name, out / f'{name}.pdb')
    residues = list(structure[0]['A'])
    assert ''.join(seq1(r.get_resname()) for r in residues) == seq
    assert [r.id[1] for r in residues] == list(range(1, len(seq) + 1))
    for residue, value in zip(residues, conf['plddt']):
      assert {a.get_bfactor() for a in residue} == {value}
      assert {'N', 'CA', 'C', 'O'} <= {a.get_id() for a in residue}
    assert len(set(conf['plddt'])) > 1  # per-residue values, not a constant
    assert all(0. <= v <= 100. for v in conf['plddt'])
    cif = MMCIFParser(QUIET=True).get_structure(name, out / f'{name}.cif')
    xyz_cif = np.array([a.coord for a in cif.get_atoms()])
    xyz_pdb = np.array([a.coord for a in structure.get_atoms()])
    np.testing.assert_allclose(xyz_cif, xyz_pdb, atol=1e-3)
    ca = np.array([r['CA'].coord for r in residues])
    bonds = np.linalg.norm(np.diff(ca, axis=0), axis=-1)
    assert np.all(np.isfinite(ca)) and np.all(bonds > 0.5)  # a real chain, not padding zeros


def test_confidence_json_has_pae_and_ptm(run):
  _, out, _ = run
  conf = json.loads((out / 'protA.confidence.json').read_text())
  pae = np.asarray(conf['predicted_aligned_error'])
  assert pae.shape == (len(SEQ_A), len(SEQ_A))
  assert pae.min() >= 0 and pae.max() <= conf['max_predicted_aligned_error'] + 1e-6
  assert pae.std() > 0
  assert 0. <= conf['ptm'] <= 1.
  assert conf['mean_plddt'] == pytest.approx(np.mean(conf['plddt']), abs=0.006)
  assert conf['num_recycles'] == 0 and conf['bucket'] == 16 and conf['preset'] == 'tiny'


def test_same_bucket_compiles_once(run):
  _, out, messages = run
  summary = json.loads((out / 'summary.json').read_text())
  assert summary['num_compiles'] == 1 and summary['compiled_buckets'] == [16]
  compiles = [m for m in messages if m.startswith('compiling for bucket')]
  assert len(compiles) == 1 and compiles[0].startswith('compiling for bucket 16 ')
  assert [t['bucket'] for t in summary['targets']] == [16, 16]
  assert [t['name'] for t in summary['targets']] == ['protA', 'protB']  # FASTA order


def test_samples_use_different_seeds_and_are_ranked(run):
  _, out, _ = run
  for name in ('protA', 'protB'):
    ranking = json.loads((out / f'{name}.ranking.json').read_text())
    assert [s['seed'] for s in ranking['samples']] == [3, 4]
    means = [s['mean_plddt'] for s in ranking['samples']]
    assert means[ranking['order'][0]] >= means[ranking['order'][1]]
    best = ranking['best_sample']
    assert (out / f'{name}.pdb').read_text() == (out / f'{name}.sample_{best}.pdb').read_text()
    xyz = [np.array([a.coord for a in PDBParser(QUIET=True).get_structure(
        'x', out / f'{name}.sample_{k}.pdb').get_atoms()]) for k in (0, 1)]
    assert np.abs(xyz[0] - xyz[1]).max() > 1e-3  # another seed: another MSA sample / BERT mask


# ---- driver logic with a stand-in model (no compile) ---------------------------------------

class _EchoRunner:
  """Returns outputs of the padded size whose values encode the residue position."""

  def __init__(self):
    self.shapes = []

  def predict(self, features, random_seed=0):
    e, n = features['aatype'].shape
    self.shapes.append((e, n))
    mask = features['seq_mask'][0]
    pos = np.arange(n, dtype=np.float32)
    return {'final_atom_positions': np.tile(pos[:, None, None], (1, 37, 3)),
            'final_atom_mask': np.ones((n, 37), np.float32),
            'plddt': 50. + pos * mask + random_seed, 'num_recycles': np.int32(e - 1),
            'predicted_aligned_error': pos[:, None] + pos[None, :],
            'max_predicted_aligned_error': np.float32(31.75), 'ptm': np.float32(0.5)}


def test_predictor_buckets_counter_and_unpadding():
  config = model_config('tiny', num_recycle=1)
  predictor = predict.Predictor(config, params={}, buckets=(8, 16))
  predictor.runner = _EchoRunner()
  targets = [Target('a', 'a', 'ACDEFG'), Target('b', 'b', 'ACDEFGHIKLM'),
             Target('c', 'c', 'ACDEFGH'), Target('d', 'd', 'ACDEFGHIKLMNPQRSTV')]
  results = list(predict.predict_targets(predictor, targets, num_samples=2, seed=7))
  assert [r.target.name for r in results] == ['a', 'c', 'b', 'd']  # grouped by bucket
  assert predictor.compiled_buckets == [8, 16, 512] and predictor.num_compiles == 3
  assert predictor.runner.shapes == [(2, 8)] * 4 + [(2, 16)] * 2 + [(2, 512)] * 2
  for result in results:
    n = len(result.target)
    for k, sample in enumerate(result.samples):
      assert sample.seed == 7 + k and sample.num_recycles == 1
      assert sample.final_atom_positions.shape == (n, 37, 3) and sample.plddt.shape == (n,)
      np.testing.assert_array_equal(sample.plddt, 50. + np.arange(n) + 7 + k)
      assert sample.predicted_aligned_error.shape == (n, n)
    assert result.ranking == [1, 0]  # seed 8 has the higher pLDDT


def test_bucket_length():
  assert predict.bucket_length(1, (16, 32)) == 16
  assert predict.bucket_length(16, (16, 32)) == 16
  assert predict.bucket_length(17, (16, 32)) == 32
  assert predict.bucket_length(33, (16, 32)) == 512
  assert predict.bucket_length(1025, (16, 32)) == 1536
  assert predict.parse_buckets('16, 32,64') == (16, 32, 64)
  for bad in ('32,16', 'a,b', '0', ''):
    with pytest.raises(ValueError):
      predict.parse_buckets(bad)


# ---- parameter sources ----------------------------------------------------------------------

def test_checkpoint_params_are_loaded_and_checked(tmp_path, tiny_params, monkeypatch):
  import optax  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.checkpoints import Checkpointer  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.state import create_train_state  # pylint: disable=import-outside-toplevel
  _, params, shapes = tiny_params

  def save(directory, tree, step):
    state = create_train_state(tree, optax.sgd(1e-3), jax.random.PRNGKey(0))
    checkpointer = Checkpointer(directory, save_every=1)
    checkpointer.save(state._replace(step=np.int32(step)), {'preset': 'tiny'}, force=True)
    checkpointer.close()

  save(tmp_path / 'run' / 'checkpoints', params, 5)
  config = model_config('tiny', num_recycle=0)
  loaded, source = weights.load_params(config, checkpoint=str(tmp_path / 'run'), expected=shapes)
  assert 'step 5' in source and weights.checkpoint_preset(str(tmp_path / 'run')) == 'tiny'
  # a relative directory (`--checkpoint runs/x`, as users type it; orbax wants absolute paths)
  monkeypatch.chdir(tmp_path)
  relative, _ = weights.load_params(config, checkpoint='run', expected=shapes)
  assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, relative, loaded))
  flat = jax.tree_util.tree_leaves_with_path(params)
  loaded_flat = dict(jax.tree_util.tree_leaves_with_path(loaded))
  assert len(flat) == len(loaded_flat)
  for path, value in flat:
    np.testing.assert_array_equal(loaded_flat[path], value)
  # a checkpoint of another architecture: every bad entry is named
  scope = 'alphafold/alphafold_iteration/evoformer/preprocess_1d'
  other = {k: dict(v) for k, v in params.items()}
  other[scope]['weights'] = np.zeros((3, 5), np.float32)
  other['extra_module'] = {'w': np.zeros(2, np.float32)}
  save(tmp_path / 'other', other, 2)
  with pytest.raises(ParamsError) as info:
    weights.load_params(config, checkpoint=str(tmp_path / 'other'), expected=shapes)
  assert f'wrong shape: {scope}//weights has (3, 5)' in str(info.value)
  assert 'extra: extra_module//w' in str(info.value)
  with pytest.raises(ParamsError, match='no finalised checkpoint'):
    weights.load_params(config, checkpoint=str(tmp_path))


def test_missing_bundled_weights_message(tmp_path, monkeypatch):
  monkeypatch.setattr(weights, 'weights_dir', lambda: tmp_path)
  with pytest.raises(ParamsError, match=r"no bundled weights for preset 'tiny'.*--params"):
    weights.bundled_weights_path('tiny')
  (tmp_path / 'model_3.npz').write_bytes(b'')
  assert weights.default_preset() == 'model_3'
  (tmp_path / 'model_1_ptm.npz').write_bytes(b'')
  assert weights.default_preset() == 'model_1_ptm'


# ---- bad inputs: one clear error line, exit code 2, no output files -------------------------

def _fail(tmp_path, capsys, argv):
  out = tmp_path / 'out'
  code = cli.main(['predict', *[str(a) for a in argv], '--out', str(out), '--quiet'])
  err = capsys.readouterr().err
  assert code == 2
  assert err.startswith('alphafold-jax predict: error: ')
  assert not out.exists()
  assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.out')] == []
  return err


def test_unknown_residue_letter(tmp_path, capsys, tiny_params):
  (tmp_path / 'x.fasta').write_text(f'>ok\n{SEQ_A}\n>bad one\nMKTJAY\n')
  err = _fail(tmp_path, capsys, [tmp_path / 'x.fasta', '--preset', 'tiny',
                                 '--params', tiny_params[0]])
  assert "'bad'" in err and "'J'" in err and 'position 4' in err


@pytest.mark.parametrize('text', ['', '\n\n', 'MKTAY\n'])
def test_empty_or_headerless_fasta(tmp_path, capsys, tiny_params, text):
  (tmp_path / 'x.fasta').write_text(text)
  err = _fail(tmp_path, capsys, [tmp_path / 'x.fasta', '--preset', 'tiny',
                                 '--params', tiny_params[0]])
  assert 'x.fasta' in err and ('empty' in err or 'before the first' in err)


def test_msa_query_mismatch(tmp_path, capsys, tiny_params):
  (tmp_path / 'x.fasta').write_text(f'>protA\n{SEQ_A}\n')
  (tmp_path / 'bad.a3m').write_text(A3M_A.replace(f'>query\n{SEQ_A}', f'>query\n{SEQ_A[:5]}W'
                                                  f'{SEQ_A[6:]}'))
  err = _fail(tmp_path, capsys, [tmp_path / 'x.fasta', '--msa', tmp_path / 'bad.a3m',
                                 '--preset', 'tiny', '--params', tiny_params[0]])
  assert 'does not match the sequence' in err and 'bad.a3m' in err and 'position 6' in err


def test_msa_for_unknown_target(tmp_path, capsys, tiny_params):
  (tmp_path / 'x.fasta').write_text(f'>protA\n{SEQ_A}\n>protB\n{SEQ_B}\n')
  (tmp_path / 'a.a3m').write_text(A3M_A)
  err = _fail(tmp_path, capsys, [tmp_path / 'x.fasta', '--msa', f'protC={tmp_path / "a.a3m"}',
                                 '--preset', 'tiny', '--params', tiny_params[0]])
  assert "no target named 'protC'" in err
  (tmp_path / 'c.a3m').write_text(f'>q\n{SEQ_B[::-1]}\n')
  err = _fail(tmp_path, capsys, [tmp_path / 'x.fasta', '--msa', tmp_path / 'c.a3m',
                                 '--preset', 'tiny', '--params', tiny_params[0]])
  assert 'matches none of the 2 target sequences' in err


def test_unreadable_params_file(tmp_path, capsys):
  (tmp_path / 'x.fasta').write_text(f'>protA\n{SEQ_A}\n')
  (tmp_path / 'junk.npz').write_bytes(b'PK\x03\x04 this is not a zip archive')
  err = _fail(tmp_path, capsys, [tmp_path / 'x.fasta', '--preset', 'tiny',
                                 '--params', tmp_path / 'junk.npz'])
  assert 'cannot read parameter file' in err and 'junk.npz' in err
  err = _fail(tmp_path, capsys, [tmp_path / 'x.fasta', '--preset', 'tiny',
                                 '--params', tmp_path / 'missing.npz'])
  assert 'parameter file not found' in err


def test_params_of_another_preset(tmp_path, capsys, tiny_params):
  (tmp_path / 'x.fasta').write_text(f'>protA\n{SEQ_A}\n')
  err = _fail(tmp_path, capsys, [tmp_path / 'x.fasta', '--preset', 'model_5',
                                 '--params', tiny_params[0]])
  assert 'does not match the model' in err and 'wrong shape' in err
  # entries are named, e.g. the Evoformer's MSA row attention
  assert 'alphafold/alphafold_iteration/evoformer/' in err


def test_bad_numbers_and_unknown_preset(tmp_path, capsys, tiny_params):
  (tmp_path / 'x.fasta').write_text(f'>protA\n{SEQ_A}\n')
  base = [tmp_path / 'x.fasta', '--params', tiny_params[0]]
  assert 'num-samples' in _fail(tmp_path, capsys, [*base, '--preset', 'tiny', '--num-samples', 0])
  assert 'num-recycle' in _fail(tmp_path, capsys, [*base, '--preset', 'tiny', '--num-recycle', -1])
  assert "unknown preset 'nope'" in _fail(tmp_path, capsys, [*base, '--preset', 'nope'])
