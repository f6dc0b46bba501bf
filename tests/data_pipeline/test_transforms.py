"""Crop / pad / batch transforms (data_pipeline.transforms)."""

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from data_pipeline import labels
from data_pipeline import transforms
from data_pipeline.processed_features import FeatureConfig, process_features
from data_pipeline.raw_features import make_raw_features

# Labels whose value at the first residue of a crop depends on the residue before it.
_NEEDS_PREVIOUS_RESIDUE = ('torsion_angles_sin_cos', 'alt_torsion_angles_sin_cos',
                           'torsion_angles_mask')


def _protein(data_dir, name='extra/7RSA.pdb'):
  return protein_lib.from_file(data_dir / 'structures' / name)


def _toy_example(rng, num_res, num_seq):
  """Labels of a random structure + an MSA [num_seq, L] + a pair feature [L, L, 3]."""
  aatype = rng.integers(0, 20, size=num_res)
  positions = rng.normal(scale=4., size=(num_res, 37, 3))
  mask = (rng.uniform(size=(num_res, 37)) < 0.9).astype(np.float32)
  example = labels.make_structure_labels(aatype, positions * mask[..., None], mask)
  example['msa'] = rng.integers(0, 22, size=(num_seq, num_res)).astype(np.int32)
  example['msa_mask'] = np.ones((num_seq, num_res), np.float32)
  example['pair_feature'] = rng.normal(size=(num_res, num_res, 3)).astype(np.float32)
  return example


PAIR_AXES = {'pair_feature': (0, 1)}


def test_cropped_labels_equal_labels_of_cropped_structure(data_dir):
  """Crop of the labels == labels of the cropped structure (frames, chis, atom14 ...)."""
  prot = _protein(data_dir)
  full = labels.labels_from_protein(prot, resolution=1.26)
  rng = np.random.default_rng(5)
  for crop_size in (13, 57):
    start = transforms.choose_crop_start(prot.num_residues, crop_size, rng)
    assert 0 <= start <= prot.num_residues - crop_size
    cropped = transforms.crop_example(full, start, crop_size)
    window = slice(start, start + crop_size)
    direct = labels.make_structure_labels(
        prot.aatype[window], prot.atom_positions[window], prot.atom_mask[window],
        resolution=1.26)
    assert set(cropped) == set(direct)
    for key, value in direct.items():
      got = cropped[key]
      assert got.shape == value.shape, key
      if key in _NEEDS_PREVIOUS_RESIDUE:  # pre-omega / phi of the first residue
        got, value = got[1:], value[1:]
      np.testing.assert_array_equal(got, value, err_msg=key)
    np.testing.assert_array_equal(cropped['chi_angles_sin_cos'],
                                  full['chi_angles_sin_cos'][window])


def test_random_crop_is_consistent_across_features_and_deterministic():
  rng = np.random.default_rng(0)
  example = _toy_example(rng, num_res=13, num_seq=5)
  example['sequence'] = np.array([b'ACDEFGHIKLMNP'], dtype=object)
  example['seq_length'] = np.full((13,), 13, np.int32)  # AF2 raw layout
  crops = [transforms.random_crop(example, 7, np.random.default_rng(s), PAIR_AXES)
           for s in (1, 1, 2, 3, 4)]
  for key in crops[0]:
    np.testing.assert_array_equal(crops[0][key], crops[1][key], err_msg=key)
  starts = set()
  for crop in crops:
    # Recover the window from the residue features, then check every other key.
    start = int(np.flatnonzero(
        np.all(example['all_atom_positions'][:, None] ==
               crop['all_atom_positions'][None, :1], axis=(1, 2, 3)))[0])
    starts.add(start)
    window = slice(start, start + 7)
    np.testing.assert_array_equal(crop['msa'], example['msa'][:, window])
    np.testing.assert_array_equal(crop['pair_feature'],
                                  example['pair_feature'][window, window])
    np.testing.assert_array_equal(crop['rigidgroups_gt_frames'],
                                  example['rigidgroups_gt_frames'][window])
    assert crop['sequence'][0] == b'ACDEFGHIKLMNP'[window]
    np.testing.assert_array_equal(crop['seq_length'], np.full((7,), 7))
    assert crop['resolution'] == example['resolution']
  assert len(starts) > 1
  # Short examples are kept whole.
  whole = transforms.random_crop(example, 20, rng, PAIR_AXES)
  np.testing.assert_array_equal(whole['pair_feature'], example['pair_feature'])


def test_crop_of_raw_features_commutes_with_processing():
  """Deterministic processed features of a cropped raw dict == crop of the processed dict."""
  sequence = 'MKTAYIAKQRQISFVKSHFSRQ'
  raw = make_raw_features(sequence, 'toy', None)
  config = FeatureConfig(max_msa_clusters=3, max_extra_msa=2, num_recycle=0)
  full = process_features(raw, config, seed=0)
  cropped = process_features(transforms.crop_example(raw, 5, 11), config, seed=0)
  for key in ('aatype', 'target_feat', 'residue_index', 'atom14_atom_exists',
              'residx_atom37_to_atom14', 'seq_mask'):
    np.testing.assert_array_equal(cropped[key], full[key][:, 5:16], err_msg=key)
  assert int(cropped['seq_length'][0]) == 11


def test_unknown_or_inconsistent_features_raise():
  rng = np.random.default_rng(1)
  example = _toy_example(rng, num_res=7, num_seq=3)
  with pytest.raises(transforms.TransformError, match="'pair_feature'.*extra_axes"):
    transforms.random_crop(example, 5, rng)
  example = {k: v for k, v in example.items() if k != 'pair_feature'}
  example['msa'] = example['msa'][:, :6]
  with pytest.raises(transforms.TransformError, match='disagree'):
    transforms.num_residues(example)
  with pytest.raises(transforms.TransformError, match='outside'):
    transforms.crop_example(_toy_example(rng, 7, 3), 4, 5, PAIR_AXES)


def test_padding_keeps_real_positions_and_masks_padding():
  rng = np.random.default_rng(2)
  example = _toy_example(rng, num_res=11, num_seq=3)
  assert transforms.pick_bucket(11, (5, 16, 32)) == 16
  padded = transforms.pad_to_bucket(example, (5, 16, 32), PAIR_AXES)
  assert transforms.num_residues(padded, PAIR_AXES) == 16
  np.testing.assert_array_equal(padded['seq_mask'], [1.] * 11 + [0.] * 5)
  for key, value in example.items():
    axes = transforms.residue_axes(key, value, PAIR_AXES)
    real = tuple(slice(0, d) for d in value.shape)
    np.testing.assert_array_equal(padded[key][real], value, err_msg=key)
    for axis in axes:  # everything beyond the real residues is zero
      tail = [slice(None)] * value.ndim
      tail[axis] = slice(11, None)
      assert not np.any(padded[key][tuple(tail)]), key
  for mask_key in ('all_atom_mask', 'atom14_gt_exists', 'rigidgroups_gt_exists',
                   'chi_mask', 'pseudo_beta_mask', 'backbone_affine_mask', 'msa_mask'):
    assert padded[mask_key].sum() == example[mask_key].sum()
  with pytest.raises(transforms.TransformError, match='largest bucket'):
    transforms.pick_bucket(40, (5, 16, 32))


def test_batching_examples_of_different_lengths():
  rng = np.random.default_rng(3)
  examples = [_toy_example(rng, n, s) for n, s in ((7, 3), (13, 5), (5, 2))]
  batch = transforms.batch_examples(examples, buckets=(8, 16, 32), extra_axes=PAIR_AXES)
  assert batch['aatype'].shape == (3, 16)
  assert batch['msa'].shape == (3, 5, 16)
  assert batch['pair_feature'].shape == (3, 16, 16, 3)
  assert batch['resolution'].shape == (3,)
  np.testing.assert_array_equal(batch['seq_mask'].sum(-1), [7, 13, 5])
  for b, example in enumerate(examples):
    n, s = example['msa'].shape[1], example['msa'].shape[0]
    np.testing.assert_array_equal(batch['all_atom_positions'][b, :n],
                                  example['all_atom_positions'])
    np.testing.assert_array_equal(batch['msa'][b, :s, :n], example['msa'])
    assert not batch['msa_mask'][b, s:].any() and not batch['msa_mask'][b, :, n:].any()
    assert not batch['atom14_gt_exists'][b, n:].any()
  no_bucket = transforms.batch_examples(examples, extra_axes=PAIR_AXES)
  assert no_bucket['aatype'].shape == (3, 13)
  with pytest.raises(transforms.TransformError, match='different keys'):
    transforms.batch_examples([examples[0], {'aatype': np.zeros(4, np.int32)}],
                              extra_axes=PAIR_AXES)


def test_ensemble_axis_is_respected():
  """Keys named in ensemble_keys carry a leading [E] axis; residue axes shift by one."""
  sequence = 'ACDEFGHIKLM'
  raw = make_raw_features(sequence, 'toy', None)
  config = FeatureConfig(max_msa_clusters=2, max_extra_msa=1, num_recycle=1)
  processed = process_features(raw, config, seed=1)
  keys = tuple(processed)
  assert processed['msa_feat'].shape[:3] == (2, 2, len(sequence))
  padded = transforms.pad_example(processed, 16, ensemble_keys=keys)
  assert padded['msa_feat'].shape == (2, 2, 16, 49)
  assert padded['aatype'].shape == (2, 16)
  np.testing.assert_array_equal(padded['seq_mask'][:, len(sequence):], 0.)
  assert transforms.num_residues(padded, ensemble_keys=keys) == 16
  assert rc.restypes[int(padded['aatype'][0, 0])] == 'A'
