"""The one example builder (data_pipeline.examples): crop window, per-seed MSA processing,
the predict feature path for int seeds, structure-only examples."""

import dataclasses

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from data_pipeline import examples
from data_pipeline import labels as labels_lib
from data_pipeline.processed_features import FeatureConfig, process_features
from data_pipeline.raw_features import make_raw_features

# Distinct sizes: 3 clusters, 5 extra rows, crop 11 of 1VII's 36 residues, padded to 13.
FEATURES = FeatureConfig(max_msa_clusters=3, max_extra_msa=5, num_recycle=0)
CONFIG = examples.ExampleConfig(crop_size=11, buckets=None, num_res=13, feature_config=FEATURES)


@pytest.fixture(scope='module')
def vii(data_dir):
  prot = protein_lib.from_file(data_dir / 'structures' / 'nano' / '1VII.pdb')
  return prot, examples.source_from_protein(prot, '1VII', resolution=1.5)


def test_one_window_for_features_and_labels(vii):
  prot, source = vii
  assert source.num_res == 36
  numbers = prot.residue_index - prot.residue_index[0]
  np.testing.assert_array_equal(source.raw['residue_index'], numbers)
  ex = examples.build_example(source, CONFIG, np.random.default_rng(4))
  assert ex['aatype'].shape == (13,) and ex['msa_feat'].shape == (3, 13, 49)
  assert ex['extra_msa'].shape == (5, 13) and ex['all_atom_positions'].shape == (13, 37, 3)
  np.testing.assert_array_equal(ex['seq_mask'], [1.] * 11 + [0.] * 2)
  start = int(np.flatnonzero(numbers == ex['residue_index'][0])[0])
  window = slice(start, start + 11)
  np.testing.assert_array_equal(ex['residue_index'][:11], numbers[window])
  np.testing.assert_array_equal(ex['aatype'][:11], prot.aatype[window])
  full = labels_lib.labels_from_protein(prot, 1.5)
  for key in ('all_atom_positions', 'rigidgroups_gt_frames', 'pseudo_beta'):
    np.testing.assert_array_equal(ex[key][:11], full[key][window], err_msg=key)
    assert not np.any(ex[key][11:]), key
  assert ex['resolution'] == np.float32(1.5)


def test_same_seed_same_example_other_seed_redraws_bert_mask(vii):
  _, source = vii
  whole = dataclasses.replace(CONFIG, crop_size=None, num_res=40)  # no crop: only MSA draws
  a = examples.build_example(source, whole, [3, 0, 1])
  b = examples.build_example(source, whole, [3, 0, 1])
  assert set(a) == set(b)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
  c = examples.build_example(source, whole, [3, 1, 1])
  assert a['bert_mask'][0, :36].sum() > 0 and c['bert_mask'][0, :36].sum() > 0
  assert not np.array_equal(a['bert_mask'], c['bert_mask'])
  np.testing.assert_array_equal(a['aatype'], c['aatype'])  # the protein is the same


def test_int_seed_without_crop_is_the_predict_feature_path(vii):
  """An int seed reaches process_features unchanged: the features predict computes."""
  prot, _ = vii
  sequence = examples.protein_sequence(prot)
  source = examples.source_from_protein(prot, '1VII', numbering='sequence')
  np.testing.assert_array_equal(source.raw['residue_index'], np.arange(36))
  config = examples.ExampleConfig(crop_size=None, buckets=None, num_res=41,
                                  feature_config=FEATURES)
  got = examples.build_example(source, config, 17)
  want = process_features(make_raw_features(sequence, 'x'),
                          dataclasses.replace(FEATURES, num_res=41), 17)
  for key, value in want.items():
    np.testing.assert_array_equal(got[key], value[0], err_msg=key)


def test_structure_only_examples_and_example_set(vii):
  prot, source = vii
  config = examples.ExampleConfig(crop_size=7, buckets=None, num_res=9, feature_config=None)
  ex = examples.build_example(source, config, 0)
  assert 'msa_feat' not in ex and ex['aatype'].shape == (9,)
  np.testing.assert_array_equal(ex['seq_mask'], [1.] * 7 + [0.] * 2)
  np.testing.assert_array_equal(np.diff(ex['residue_index'][:7]), 1)
  assert config.ensemble_keys == ()
  other = examples.source_from_protein(prot, 'copy')
  dataset = examples.ExampleSet([source, other], config, seed=5)
  assert len(dataset) == 2 and dataset.names == ['1VII', 'copy']
  windows = {int(dataset.example(0, epoch)['residue_index'][0]) for epoch in range(8)}
  assert len(windows) > 1  # the crop is redrawn per epoch
  np.testing.assert_array_equal(dataset.example(1, 3)['residue_index'],
                                dataset.example(1, 3)['residue_index'])
  assert examples.common_length([source, other], 20) == 20
  assert examples.common_length([source], None) == 36
  with pytest.raises(ValueError, match='num_res'):
    examples.ExampleConfig(num_res=0)
  with pytest.raises(ValueError, match='do not fit'):
    examples.build_example(source, dataclasses.replace(config, crop_size=None), 0)
