"""Directory dataset (data_pipeline.dataset): determinism, content, bad entries."""

import shutil

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from data_pipeline import dataset
from data_pipeline import labels
from data_pipeline.processed_features import FeatureConfig

SMALL_FEATURES = FeatureConfig(max_msa_clusters=5, max_extra_msa=3, num_recycle=0)
CONFIG = dataset.DatasetConfig(crop_size=32, buckets=(16, 32, 64),
                               feature_config=SMALL_FEATURES)


def _sequence(prot):
  return ''.join(rc.restypes_with_x[a] for a in prot.aatype)


def _write_a3m(path, sequence, rng, num_rows=3):
  """Query + mutated rows, some with lower-case insertions (deleted columns)."""
  lines = ['>query', sequence]
  letters = np.array(list('ACDEFGHIKLMNPQRSTVWY-'))
  for i in range(num_rows):
    row = np.array(list(sequence))
    flip = rng.uniform(size=len(row)) < 0.3
    row[flip] = rng.choice(letters, size=flip.sum())
    text = ''.join(row)
    text = text[:5] + 'kl' + text[5:]  # two insertions before column 6
    lines += [f'>hit{i}', text]
  path.write_text('\n'.join(lines) + '\n')


@pytest.fixture()
def data_root(tmp_path, data_dir):
  for name in ('nano/1CRN.pdb', 'nano/1VII.pdb', 'extra/2OVO.pdb'):
    shutil.copy(data_dir / 'structures' / name, tmp_path)
  crambin = protein_lib.from_file(tmp_path / '1CRN.pdb')
  _write_a3m(tmp_path / '1CRN.a3m', _sequence(crambin), np.random.default_rng(0))
  (tmp_path / 'notes.txt').write_text('not a structure')
  return tmp_path


def _assert_same(a, b):
  assert set(a) == set(b)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_entries_are_matched_by_stem(data_root):
  entries = dataset.find_entries(data_root)
  assert [e.name for e in entries] == ['1CRN', '1VII', '2OVO']
  assert [p.name for p in entries[0].msa_paths] == ['1CRN.a3m']
  assert entries[1].msa_paths == ()


def test_same_seed_same_examples_and_other_seed_differs(data_root):
  first = list(dataset.StructureDataset(data_root, CONFIG, seed=3).epoch(0))
  again = list(dataset.StructureDataset(data_root, CONFIG, seed=3).epoch(0))
  assert len(first) == len(again) == 3
  for a, b in zip(first, again):
    _assert_same(a, b)
  other = list(dataset.StructureDataset(data_root, CONFIG, seed=4).epoch(0))
  differs = any(not np.array_equal(a['msa_feat'], b['msa_feat'])
                or not np.array_equal(a['residue_index'], b['residue_index'])
                for a, b in zip(first, other))
  assert differs


def test_example_holds_cropped_labels_and_features(data_root):
  ds = dataset.StructureDataset(data_root, CONFIG, seed=0)
  by_name = {e.name: i for i, e in enumerate(ds.entries)}
  crambin = protein_lib.from_file(data_root / '1CRN.pdb')
  example = ds.example(by_name['1CRN'])
  n = 32
  assert example['aatype'].shape == (32,) and example['msa_feat'].shape == (5, 32, 49)
  # Window of the crop, recovered from the residue numbers (the chain's, shifted to start at 0).
  numbers = crambin.residue_index - crambin.residue_index[0]
  start = int(np.flatnonzero(numbers == example['residue_index'][0])[0])
  window = slice(start, start + n)
  np.testing.assert_array_equal(example['residue_index'][:n], numbers[window])
  np.testing.assert_array_equal(example['seq_mask'], np.ones(n))
  full = labels.labels_from_protein(crambin, resolution=1.5)
  for key in ('all_atom_positions', 'rigidgroups_gt_frames', 'chi_angles_sin_cos',
              'atom14_gt_positions', 'pseudo_beta', 'backbone_affine_tensor'):
    np.testing.assert_array_equal(example[key][:n], full[key][window], err_msg=key)
  np.testing.assert_array_equal(example['aatype'][:n], crambin.aatype[window])
  assert example['resolution'] == np.float32(1.5)
  # The A3M's 4 rows (query + 3 hits) are the MSA; deletions made it into msa_feat.
  assert int(example['msa_row_mask'].sum() + example['extra_msa_row_mask'].sum()) == 4
  if start <= 5 < start + n:
    assert example['msa_feat'][:, 5 - start, 23].max() > 0  # has_deletion channel

  short = ds.example(by_name['1VII'])  # 36 residues, NMR: resolution 0
  assert short['resolution'] == 0.
  assert short['seq_mask'].sum() == 32 and short['aatype'].shape == (32,)


def test_padding_and_batches(data_root):
  config = dataset.DatasetConfig(crop_size=None, buckets=(16, 32, 64),
                                 feature_config=SMALL_FEATURES, shuffle=False)
  ds = dataset.StructureDataset(data_root, config, seed=0)
  lengths = {'1CRN': 46, '1VII': 36, '2OVO': 56}
  for entry, example in zip(ds.entries, ds.epoch(0)):
    n = lengths[entry.name]
    assert example['aatype'].shape == (64,)
    np.testing.assert_array_equal(example['seq_mask'], [1.] * n + [0.] * (64 - n))
    for key in ('all_atom_mask', 'atom14_gt_exists', 'chi_mask', 'pseudo_beta_mask'):
      assert example[key][:n].any() and not example[key][n:].any(), key
    assert example['msa_mask'][0, :n].all() and not example['msa_mask'][:, n:].any()
  batch = next(ds.batches(2))
  assert batch['aatype'].shape == (2, 64) and batch['msa_feat'].shape == (2, 5, 64, 49)
  np.testing.assert_array_equal(batch['seq_mask'].sum(-1), [46, 36])


def test_corrupt_entry_raises_with_its_name_or_is_skipped(data_root):
  (data_root / 'BAD.pdb').write_text('this is not a PDB file\n' * 3)
  ds = dataset.StructureDataset(data_root, CONFIG, seed=0)
  with pytest.raises(dataset.DatasetEntryError, match='BAD.pdb'):
    list(ds.epoch(0))
  skipping = dataset.StructureDataset(
      data_root, dataset.DatasetConfig(crop_size=32, buckets=(32,),
                                       feature_config=SMALL_FEATURES, skip_bad=True))
  examples = list(skipping.epoch(0))
  assert len(examples) == 3
  assert [name for name, _ in skipping.skipped] == ['BAD']
  assert 'BAD.pdb' in skipping.skipped[0][1]


def test_msa_that_does_not_match_the_structure_is_reported(data_root):
  (data_root / '1VII.a3m').write_text('>query\nACDEFGHIK\n')
  ds = dataset.StructureDataset(data_root, CONFIG, seed=0)
  index = [e.name for e in ds.entries].index('1VII')
  with pytest.raises(dataset.DatasetEntryError, match=r'1VII\.pdb.*1VII\.a3m'):
    ds.example(index)


def test_bad_directories(tmp_path):
  with pytest.raises(dataset.DatasetEntryError, match='not found'):
    dataset.StructureDataset(tmp_path / 'missing')
  (tmp_path / 'x.a3m').write_text('>q\nAC\n')
  with pytest.raises(dataset.DatasetEntryError, match='no structure files'):
    dataset.StructureDataset(tmp_path)
  with pytest.raises(ValueError, match='crop_size'):
    dataset.DatasetConfig(crop_size=0)
