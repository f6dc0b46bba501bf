"""`alphafold-jax features` (search + templates -> msas/ + features.pkl), then
`predict --features` through the model_1_ptm template path; bad inputs give one line, exit 2
and no features.pkl.

Cost: the searches take < 1 s; one XLA compile of model_1_ptm at tiny widths (the preset's
fields overridden through `model_config`, random params) for the 154-residue myoglobin query.
"""

import dataclasses
import os
import pickle
import random
import shutil

import numpy as np
import pytest

from alphafold_jax.common.structure_io import parse_chain, read_structure_text
from alphafold_jax import cli
from data_pipeline.parsers import parse_a3m
from data_pipeline.templates.mmcif_writer import chain_to_mmcif

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data')
MYO = os.path.join(DATA, 'structures', 'extra', '102M.cif')


@pytest.fixture(scope='module')
def work(tmp_path_factory):
  """FASTA, a uniref90-like database, pdb_seqres, mmCIF folder and a custom-template folder."""
  root = tmp_path_factory.mktemp('features')
  records = (open(os.path.join(DATA, 'msa/myoglobin_102M_A/102m_A.a3m')).read()
             .split('>')[1:])
  query = parse_a3m('>' + records[0]).sequences[0]
  (root / 'myo.fasta').write_text(f'>myo sperm whale myoglobin\n{query}\n')
  rng = random.Random(0)
  with open(root / 'db.fasta', 'w') as f:
    for i, record in enumerate(records[1:80]):
      seq = ''.join(c for c in record.partition('\n')[2] if c.isalpha()).upper()
      shuffled = ''.join(rng.sample(seq, len(seq)))
      f.write(f'>tr|H{i:05d}|H{i:05d}_PHYMC h\n{seq}\n>decoy{i}\n{shuffled}\n')
  text, fmt = read_structure_text(MYO)
  chain = parse_chain(text, fmt)
  mutated = dict(chain, aatype=chain['aatype'].copy())
  mutated['aatype'][[20, 60, 100]] = 0  # ALA
  mmcif = root / 'mmcif'
  mmcif.mkdir()
  shutil.copy(MYO, mmcif / '102m.cif')
  (mmcif / '2mbo.cif').write_text(chain_to_mmcif(mutated, '2mbo', '1999-01-01',
                                                 author_chain='B', label_chain='C'))
  variant = ''.join(q if i not in (20, 60, 100) else 'A' for i, q in enumerate(query))
  (root / 'pdb_seqres.txt').write_text(
      f'>102m_A mol:protein length:154  MYOGLOBIN\n{query}\n'
      f'>2mbo_B mol:protein length:154  MYOGLOBIN VARIANT\n{variant}\n'
      f'>4zzz_A mol:protein length:154  NO MMCIF FOR THIS ONE\n{variant[:150]}WWWW\n')
  custom = root / 'custom'
  custom.mkdir()
  shutil.copy(MYO, custom / '102M.cif')
  return root, query


def _features_args(root, out, *extra):
  return ['features', str(root / 'myo.fasta'), '--db', f'uniref90={root / "db.fasta"}',
          '--db', f'mgnify={root / "db.fasta"}', '--out', str(out), '--quiet', '--cpus', '1',
          *extra]


def _template_args(root):
  return ['--pdb-seqres', str(root / 'pdb_seqres.txt'), '--mmcif-dir', str(root / 'mmcif'),
          '--max-template-date', '2020-01-01']


@pytest.fixture(scope='module')
def searched(work):
  root, query = work
  out = root / 'out'
  code = cli.main(_features_args(root, out, *_template_args(root)))
  return code, out, query


def test_features_writes_af2_layout_and_pickle(searched, capsys):
  code, out, query = searched
  assert code == 0
  assert sorted(os.listdir(out / 'myo' / 'msas')) == ['mgnify_hits.sto', 'pdb_hits.sto',
                                                     'uniref90_hits.sto']
  with open(out / 'myo' / 'features.pkl', 'rb') as f:
    features = pickle.load(f)
  assert features['sequence'][0] == query.encode()
  assert set(features) == {  # the keys of AF2's DataPipeline.process (run_alphafold's pickle)
      'aatype', 'between_segment_residues', 'domain_name', 'residue_index', 'seq_length',
      'sequence', 'deletion_matrix_int', 'msa', 'num_alignments', 'msa_species_identifiers',
      'template_aatype', 'template_all_atom_masks', 'template_all_atom_positions',
      'template_domain_names', 'template_sequence', 'template_sum_probs'}
  assert features['msa'].shape[1] == len(query) and features['msa'].shape[0] > 40
  assert features['msa_species_identifiers'][1] == b'PHYMC'
  # 102m_A is the query itself: dropped by AF2's duplicate filter; the variant is kept (through
  # author chain B); 4zzz has no mmCIF: skipped with a warning, not an abort.
  assert list(features['template_domain_names']) == [b'2mbo_B']
  assert features['template_all_atom_positions'].shape == (1, len(query), 37, 3)
  assert not [n for n in os.listdir(out / 'myo') if n.endswith('.tmp')]


def test_predict_features_runs_model_1_ptm_template_path(searched, tmp_path, monkeypatch):
  """`predict --features` with model_1_ptm (tiny widths, random params): outputs written, and
  the processed batch carries the template (template_mask 1) into the template stack."""
  import alphafold_jax.config as config_lib  # pylint: disable=import-outside-toplevel
  from alphafold_jax.inference import weights  # pylint: disable=import-outside-toplevel
  from alphafold_jax.params import save_alphafold_params  # pylint: disable=import-outside-toplevel
  from data_pipeline import process_features  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  _, out, query = searched
  real = config_lib.model_config

  def small_model_1_ptm(name, **overrides):
    """model_1_ptm at tiny widths: the `tiny` preset is model_1_ptm (templates on, PAE head)
    with small widths / blocks; predict's CLI has no width flags, hence the patch."""
    if name != 'model_1_ptm':
      return real(name, **overrides)
    cfg = real('tiny', **{'num_recycle': 0, 'max_templates': 4, **overrides})
    return dataclasses.replace(cfg, name='model_1_ptm')
  monkeypatch.setattr(config_lib, 'model_config', small_model_1_ptm)
  config = small_model_1_ptm('model_1_ptm')
  assert config.data.use_templates and config.evoformer.template.enabled
  shapes = weights.expected_param_shapes(config)
  rng = np.random.default_rng(0)
  params = jax.tree_util.tree_map(
      lambda s: (rng.normal(size=s.shape) * 0.05).astype(s.dtype), shapes)
  save_alphafold_params(params, tmp_path / 'p.npz')
  fasta = out.parent / 'myo.fasta'
  pkl = out / 'myo' / 'features.pkl'
  code = cli.main(['predict', str(fasta), '--features', str(pkl), '--preset', 'model_1_ptm',
                   '--params', str(tmp_path / 'p.npz'), '--buckets', str(len(query)),
                   '--out', str(tmp_path / 'pred'), '--quiet', '--no-plots'])
  assert code == 0
  assert {'myo.pdb', 'myo.cif', 'myo.confidence.json'} <= set(os.listdir(tmp_path / 'pred'))
  with open(pkl, 'rb') as f:
    batch = process_features(pickle.load(f), config.data, 0)
  assert batch['template_mask'][0, 0] == 1 and batch['template_mask'][0, 1] == 0
  assert batch['template_pseudo_beta_mask'][0, 0].sum() > 100


def test_custom_templates_and_precomputed(work, searched, capsys):
  root, query = work
  _, out, _ = searched
  code = cli.main(_features_args(root, out, '--templates', str(root / 'custom'),
                                 '--use-precomputed-msas'))
  assert code == 0
  with open(out / 'myo' / 'features.pkl', 'rb') as f:
    features = pickle.load(f)
  assert list(features['template_domain_names']) == [b'102M_A']
  assert features['template_sequence'][0] == query.encode()  # global alignment, identical
  assert features['template_all_atom_masks'][0, :, 1].sum() == len(query)


@pytest.mark.parametrize('case', ['missing_db', 'empty_db', 'corrupt_custom', 'non_protein',
                                  'bad_date'])
def test_bad_input_one_line_no_pickle(work, tmp_path, capsys, case):
  root, _ = work
  out = tmp_path / 'out'
  args = _features_args(root, out)
  if case == 'missing_db':
    args[3] = f'uniref90={tmp_path / "nope.fasta"}'
    expect = 'nope.fasta: file not found'
  elif case == 'empty_db':
    (tmp_path / 'empty.fasta').write_text('')
    args[5] = f'mgnify={tmp_path / "empty.fasta"}'
    expect = 'empty database'
  elif case in ('corrupt_custom', 'non_protein'):
    folder = tmp_path / 'tmpl'
    folder.mkdir()
    shutil.copy(MYO, folder / '102M.cif')
    if case == 'corrupt_custom':
      (folder / 'bad.cif').write_text(open(MYO).read()[:5000])
      expect = 'bad.cif'
    else:
      (folder / 'ligand.pdb').write_text(
          'HETATM    1  C1  HEM A 200      10.000  10.000  10.000  1.00 20.00           C\nEND\n')
      expect = 'ligand.pdb'
    args += ['--templates', str(folder)]
  else:
    args += _template_args(root)[:4] + ['--max-template-date', '2020-13-45']
    expect = "--max-template-date must be a date YYYY-MM-DD, got '2020-13-45'"
  assert cli.main(args) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and expect in err[0], err
  assert not out.exists()  # every input is checked before the first search writes anything


def test_hit_with_unknown_pdb_id_is_a_warning(work, searched, caplog):
  """4zzz_A (in pdb_seqres, no mmCIF): skipped with a warning line naming it, not an abort."""
  root, _ = work
  _, out, _ = searched
  with caplog.at_level('WARNING', logger='data_pipeline'):
    code = cli.main(_features_args(root, out, *_template_args(root), '--use-precomputed-msas'))
  assert code == 0
  lines = [r.getMessage() for r in caplog.records if '4zzz' in r.getMessage()]
  assert len(lines) == 1 and '4zzz.cif: mmCIF file not found' in lines[0]


def test_features_pickle_is_atomic(tmp_path):
  """A pickling failure leaves neither features.pkl nor a temporary file behind."""
  from data_pipeline.feature_io import write_features_pickle  # pylint: disable=import-outside-toplevel
  with pytest.raises(Exception):
    write_features_pickle({'aatype': np.zeros(3), 'bad': lambda: None}, str(tmp_path / 'f.pkl'))
  assert os.listdir(tmp_path) == []


def test_predict_search_flags_bad_database_fails_before_model(work, tmp_path, capsys):
  root, _ = work
  code = cli.main(['predict', str(root / 'myo.fasta'), '--db', f'uniref90={tmp_path / "x.fa"}',
                   '--out', str(tmp_path / 'pred'), '--quiet'])
  assert code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and 'x.fa: file not found' in err[0]
  assert not (tmp_path / 'pred').exists()


def test_predict_features_of_another_sequence_is_an_error(work, searched, tmp_path, capsys):
  root, _ = work
  _, out, _ = searched
  (tmp_path / 'other.fasta').write_text('>other\nMKTAYIAKQRQISFVKSHFSRQ\n')
  code = cli.main(['predict', str(tmp_path / 'other.fasta'), '--features',
                   str(out / 'myo' / 'features.pkl'), '--out', str(tmp_path / 'pred'), '--quiet'])
  assert code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and 'is not the target sequence' in err[0]
