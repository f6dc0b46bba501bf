"""Contiguous multi-chain cropping and residue padding of complex examples."""

import numpy as np
import pytest

from data_pipeline.multimer import ChainInput, make_multimer_features
from data_pipeline.multimer.cropping import (chain_lengths, contiguous_crop_indices,
                                             crop_complex, pad_complex)


@pytest.fixture(scope='module')
def example():
  return make_multimer_features([ChainInput('MKTAYIAKQRQISF'), ChainInput('GSHMLEDPV'),
                                 ChainInput('MKTAYIAKQRQISF')])


def test_crop_is_contiguous_per_chain_and_of_the_right_size(example):
  lengths = chain_lengths(example)
  assert list(lengths) == [14, 14, 9]  # chains in asym order (entity A copies first)
  rng = np.random.default_rng(0)
  for crop in (5, 20, 36, 37, 50):
    idx = contiguous_crop_indices(lengths, crop, rng)
    assert len(idx) == min(crop, sum(lengths))
    cropped = crop_complex(example, idx)
    for a in np.unique(cropped['asym_id']):
      kept = idx[cropped['asym_id'] == a]
      assert np.all(np.diff(kept) == 1)  # one stretch per chain
    assert cropped['msa'].shape == (example['msa'].shape[0], len(idx))
    assert cropped['template_aatype'].shape[1] == len(idx)
    np.testing.assert_array_equal(cropped['aatype'], example['aatype'][idx])


def test_padding_appends_masked_residues(example):
  n = example['aatype'].shape[0]
  padded = pad_complex(example, n + 7)
  assert padded['aatype'].shape == (n + 7,) and padded['msa'].shape[1] == n + 7
  assert np.all(padded['seq_mask'][n:] == 0) and np.all(padded['asym_id'][n:] == 0)
  assert np.all(padded['msa_mask'][:, n:] == 0)
  np.testing.assert_array_equal(padded['msa'][:, :n], example['msa'])
  assert list(chain_lengths(padded)) == list(chain_lengths(example))


def test_multimer_feature_config_checks_the_example(example):
  from alphafold_jax.config import model_config
  from data_pipeline.errors import FeatureError
  data = model_config('model_1_multimer_v3').data
  assert data.num_recycle == 20
  assert sorted(data.process(example)) == sorted(example)
  with pytest.raises(FeatureError, match='no ensemble axis'):
    data.process({**example, 'aatype': example['aatype'][None]})
