"""AF2 npz parameter files: round trip, and errors that name every bad entry."""

import numpy as np
import pytest

from alphafold_jax.params import (ParamsError, check_params, flatten_params,
                                  load_alphafold_params, save_alphafold_params)


def _tree(rng):
  return {
      'alphafold/alphafold_iteration/evoformer/preprocess_1d': {
          'weights': rng.normal(size=(22, 7)).astype(np.float32),
          'bias': rng.normal(size=(7,)).astype(np.float32)},
      'alphafold/alphafold_iteration/evoformer/evoformer_iteration/outer_product_mean': {
          'output_w': rng.normal(size=(3, 5, 5, 11)).astype(np.float32)},
  }


def test_round_trip_keeps_af2_flat_layout(tmp_path):
  params = _tree(np.random.default_rng(0))
  path = tmp_path / 'params_model_1_ptm.npz'
  save_alphafold_params(params, path)
  with np.load(path) as data:
    assert sorted(data.files) == sorted(flatten_params(params))
    assert 'alphafold/alphafold_iteration/evoformer/preprocess_1d//weights' in data.files
  loaded = load_alphafold_params(path, expected=params)
  for scope, leaves in params.items():
    for name, value in leaves.items():
      np.testing.assert_array_equal(loaded[scope][name], value)


def test_mismatch_names_every_missing_extra_and_misshaped_entry(tmp_path):
  rng = np.random.default_rng(1)
  expected = _tree(rng)
  bad = _tree(rng)
  del bad['alphafold/alphafold_iteration/evoformer/preprocess_1d']['bias']
  bad['alphafold/alphafold_iteration/evoformer/preprocess_1d']['weights'] = np.zeros((22, 8))
  bad['alphafold/extra_scope'] = {'w': np.zeros(3)}
  path = tmp_path / 'bad.npz'
  save_alphafold_params(bad, path)
  with pytest.raises(ParamsError) as err:
    load_alphafold_params(path, expected=expected)
  msg = str(err.value)
  assert 'missing: alphafold/alphafold_iteration/evoformer/preprocess_1d//bias' in msg
  assert 'extra: alphafold/extra_scope//w' in msg
  assert ('wrong shape: alphafold/alphafold_iteration/evoformer/preprocess_1d//weights '
          'has (22, 8), expected (22, 7)') in msg
  check_params(expected, expected)  # a matching tree passes


@pytest.mark.parametrize('content', [b'', b'not a zip file at all', b'PK\x03\x04trunc'])
def test_unreadable_file_gives_one_clear_error(tmp_path, content):
  path = tmp_path / 'broken.npz'
  path.write_bytes(content)
  with pytest.raises(ParamsError, match='cannot read parameter file|holds no arrays|is empty|not an .npz'):
    load_alphafold_params(path)


def test_missing_file(tmp_path):
  with pytest.raises(ParamsError, match='not found'):
    load_alphafold_params(tmp_path / 'nope.npz')


def test_invalid_params_leave_existing_file_untouched(tmp_path):
  path = tmp_path / 'p.npz'
  save_alphafold_params(_tree(np.random.default_rng(2)), path)
  before = path.read_bytes()
  with pytest.raises(ParamsError, match='not a numeric array'):
    save_alphafold_params({'scope': {'w': object()}}, path)  # not a numeric array
  assert path.read_bytes() == before
  assert [p.name for p in tmp_path.iterdir()] == ['p.npz']  # no temp file left
