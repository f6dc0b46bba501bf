"""Tests of the processed-feature pipeline (MSA sampling, BERT mask, clusters, msa_feat, padding).

Oracle comparison: AF2's input pipeline (`alphafold.model.features.np_example_to_features`,
run by alphafold-colabfold's NumPy stand-in for TensorFlow) is run with its random ops replaced
by a recorder drawing from a numpy Generator; our pipeline then replays exactly those draws through
its `Sampler` interface, so every output key (random and deterministic parts) must be bitwise
equal. Our own GeneratorSampler is checked for reproducibility and in distribution.
"""

import dataclasses
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import data_pipeline
from alphafold_jax.config import model_config
from data_pipeline import msa_transforms, parsers
from data_pipeline.errors import FeatureError
from data_pipeline.processed_features import (FeatureConfig,
                                              process_features)
from data_pipeline.sampling import GeneratorSampler
from tests.oracle import requires_oracle

pytestmark = requires_oracle

AA = np.array(list('ACDEFGHIKLMNPQRSTVWY'))
_REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


class _OracleRecorder:
  """Stands in for the oracle's random ops; records every draw in call order."""

  def __init__(self, seed, np_backend):
    self.rng, self.np_backend, self.log = np.random.default_rng(seed), np_backend, []

  def shuffle(self, value, seed=None, name=None):
    out = self.rng.permutation(np.asarray(value))
    self.log.append(('permutation', out))
    return out

  def uniform(self, shape, minval=0, maxval=None, dtype=None, seed=None, name=None):
    shape = tuple(int(s) for s in shape)
    if dtype is not None and np.issubdtype(self.np_backend._np_dtype(dtype), np.integer):
      out = self.rng.integers(minval, maxval, shape, dtype=np.int32)
      self.log.append(('crop_seed', out))
      return out
    out = self.rng.random(shape, dtype=np.float32)
    if shape != (1,):  # (1,) draws only keep the oracle's RNG aligned; their values are unused
      self.log.append(('uniform', out))
    return out

  def categorical(self, logits, num_samples, dtype=None, seed=None, name=None):
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    out = GeneratorSampler(self.rng).categorical(probs / probs.sum(-1, keepdims=True))
    self.log.append(('categorical', out))
    return out[:, None]


class _Replay:
  """Our Sampler interface, answering with the oracle's recorded draws."""

  def __init__(self, log, replace_fraction):
    self.log, self.replace_fraction, self.position = list(log), replace_fraction, None

  def _pop(self, kind):
    got, value = self.log.pop(0)
    assert got == kind, f'call order differs from the oracle: {got} vs {kind}'
    return value

  def permutation(self, values):
    out = self._pop('permutation')
    np.testing.assert_array_equal(np.sort(out), np.sort(values))
    return out

  def uniform(self, shape):
    out = self._pop('uniform')
    assert out.shape == tuple(shape)
    self.position = out < self.replace_fraction
    return out

  def categorical(self, probs):
    # The oracle samples every position; we sample only the BERT-selected ones.
    out = self._pop('categorical').reshape(self.position.shape)[self.position]
    assert out.shape == probs.shape[:-1]
    return out

  def crop_seed(self):
    return self._pop('crop_seed')


def _run_oracle(raw, model, seed, **data_overrides):
  from alphafold.model import config as af_config
  from alphafold.model import features as af_features
  from alphafold.model.tf import np_backend
  cfg = af_config.model_config(model)
  for path, value in data_overrides.items():
    section, key = path.split('.')
    cfg.data[section][key] = value
  raw = dict(raw)
  if cfg.data.common.use_templates and 'template_aatype' not in raw:
    n = raw['aatype'].shape[0]
    raw.update(template_aatype=np.zeros((0, n, 22), np.float32),
               template_all_atom_masks=np.zeros((0, n, 37), np.float32),
               template_all_atom_positions=np.zeros((0, n, 37, 3), np.float32),
               template_sum_probs=np.zeros((0, 1), np.float32),
               template_domain_names=np.zeros((0,), object))
  recorder = _OracleRecorder(seed, np_backend)
  saved = np_backend.random_shuffle, np_backend.random.uniform, np_backend.random.categorical
  np_backend.random_shuffle = recorder.shuffle
  np_backend.random.uniform, np_backend.random.categorical = recorder.uniform, recorder.categorical
  try:
    out = af_features.np_example_to_features(raw, cfg, random_seed=0)
  finally:
    np_backend.random_shuffle = saved[0]
    np_backend.random.uniform, np_backend.random.categorical = saved[1:]
  log = recorder.log
  num_ensemble = out['aatype'].shape[0]
  if num_ensemble > 1:
    # input_pipeline evaluates ensemble member 0 once more, outside map_fn, for its shapes.
    per_member = (len(log) - 1) // (num_ensemble + 1)
    log = log[:1] + log[1 + per_member:]
  return out, log


def _raw_from_files(data_dir, name, files):
  msas = []
  for f in files:
    text = (data_dir / 'msa' / name / f).read_text()
    msas.append(parsers.parse_a3m(text) if f.endswith('.a3m') else parsers.parse_stockholm(text))
  return data_pipeline.make_raw_features(msas[0].sequences[0], name, msas)


def _random_raw(rng, num_res, num_rows):
  query = ''.join(rng.choice(AA, num_res))
  rows = [query]
  for _ in range(num_rows - 1):
    row = np.array(list(query))
    change = rng.random(num_res) < 0.4
    row[change] = rng.choice(np.append(AA, ['-', '-', 'X']), change.sum())
    rows.append(''.join(row))
  deletions = (rng.random((num_rows, num_res)) < 0.1) * rng.integers(1, 30, (num_rows, num_res))
  deletions[0] = 0
  msa = parsers.Msa(rows, deletions.tolist(), [f'r{i}' for i in range(num_rows)])
  return data_pipeline.make_raw_features(query, 'random', [msa])


def _random_templates(rng, num_templates, num_res):
  aatype = rng.integers(0, 22, (num_templates, num_res))
  aatype[:, :3] = 7  # HHblits id 7 = 'G' -> glycine pseudo-beta uses CA
  return {
      'template_aatype': np.eye(22, dtype=np.float32)[aatype],
      'template_all_atom_positions': rng.normal(size=(num_templates, num_res, 37, 3)).astype(
          np.float32),
      'template_all_atom_masks': (rng.random((num_templates, num_res, 37)) < 0.8).astype(
          np.float32),
      'template_sum_probs': rng.random((num_templates, 1)).astype(np.float32),
      'template_domain_names': np.array([b't%d' % i for i in range(num_templates)], object),
  }


def _assert_equal_to_oracle(ours, ref):
  assert set(ours) == set(ref)
  for key in sorted(ref):
    assert ours[key].dtype == ref[key].dtype, key
    assert ours[key].shape == ref[key].shape, key
    np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)


def feature_config_for_model(name, **overrides):
  """The input-pipeline part of an AF2 preset: its one home is `model_config`."""
  return model_config(name, **overrides).data


@pytest.mark.parametrize('model, overrides', [
    # templates, S = 132 - 4 clusters, 2 ensemble members, extra-MSA crop used
    ('model_1_ptm', {'common.num_recycle': 1, 'eval.max_msa_clusters': 132,
                     'common.max_extra_msa': 700}),
    ('model_5', {'common.num_recycle': 0, 'common.max_extra_msa': 300}),  # extra-MSA crop used
])
def test_matches_oracle_with_replayed_draws_real_msa(data_dir, model, overrides):
  raw = _raw_from_files(data_dir, 'af2_pipeline_example',
                        ['bfd_uniclust_hits.a3m', 'mgnify_hits.sto', 'uniref90_hits.sto'])
  ref, log = _run_oracle(raw, model, seed=1, **overrides)
  config = feature_config_for_model(
      model, **{k.split('.')[1]: v for k, v in overrides.items()})
  ours = process_features(raw, config, _Replay(log, config.masked_msa_replace_fraction))
  _assert_equal_to_oracle(ours, ref)
  assert ours['msa_feat'].shape[-1] == 49 and ours['target_feat'].shape[-1] == 22
  assert 0 < ours['bert_mask'].sum() < ours['msa_mask'].sum()


def test_matches_oracle_small_msa_with_templates():
  rng = np.random.default_rng(13)
  raw = {**_random_raw(rng, num_res=11, num_rows=7), **_random_templates(rng, 5, 11)}
  overrides = {'common.num_recycle': 2, 'eval.max_msa_clusters': 9}  # 9 - 4 = 5 cluster rows
  ref, log = _run_oracle(raw, 'model_1', seed=2, **overrides)
  config = feature_config_for_model('model_1', num_recycle=2, max_msa_clusters=9)
  ours = process_features(raw, config, _Replay(log, 0.15))
  _assert_equal_to_oracle(ours, ref)
  assert ours['template_mask'][0].tolist() == [1, 1, 1, 1]  # top 4 of the 5 templates
  assert ours['template_pseudo_beta_mask'][0].any()


def test_matches_oracle_single_sequence():
  raw = data_pipeline.make_raw_features('MKTAYIAKQRQISFVKSHFSRQ', 'single', None)
  ref, log = _run_oracle(raw, 'model_3', seed=3, **{'common.num_recycle': 1})
  config = feature_config_for_model('model_3', num_recycle=1)
  ours = process_features(raw, config, _Replay(log, 0.15))
  _assert_equal_to_oracle(ours, ref)
  assert ours['msa_row_mask'][0].sum() == 1 and ours['extra_msa_row_mask'].sum() == 0


def test_same_seed_same_features_different_seed_different_sample():
  raw = _random_raw(np.random.default_rng(0), num_res=13, num_rows=40)
  config = FeatureConfig(max_msa_clusters=11, max_extra_msa=17, num_recycle=1)
  a = process_features(raw, config, seed=5)
  b = process_features(raw, config, seed=np.random.default_rng(5))
  c = process_features(raw, config, seed=6)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
  assert not np.array_equal(a['bert_mask'], c['bert_mask'])
  assert not np.array_equal(a['true_msa'], c['true_msa'])
  # Resampled per recycling iteration: members differ, the query row stays first.
  assert not np.array_equal(a['true_msa'][0], a['true_msa'][1])
  np.testing.assert_array_equal(a['true_msa'][:, 0], np.broadcast_to(a['aatype'][0], (2, 13)))
  assert a['msa_feat'].shape == (2, 11, 13, 49) and a['extra_msa'].shape == (2, 17, 13)


def test_bert_mask_fraction_and_replacement_split():
  rng = np.random.default_rng(1)
  raw = _random_raw(rng, num_res=53, num_rows=300)
  config = FeatureConfig(max_msa_clusters=257, max_extra_msa=7, num_recycle=3)
  feats = process_features(raw, config, seed=123)
  masked = feats['bert_mask'] > 0  # [E, S, L]
  fraction = masked.mean()
  n = masked.size  # 4 * 257 * 53 = 54484
  assert abs(fraction - 0.15) < 4 * np.sqrt(0.15 * 0.85 / n)
  new = np.argmax(feats['msa_feat'][..., :23], axis=-1)[masked]  # corrupted tokens
  true = feats['true_msa'][masked]
  m = masked.sum()
  # P(mask token) = 1 - 0.1 - 0.1 - 0.1 = 0.7.
  assert abs((new == 22).mean() - 0.7) < 4 * np.sqrt(0.21 / m)
  # P(unchanged) = same 0.1 + uniform 0.1 * 0.05 (amino acids) + profile 0.1 * profile[true].
  profile = msa_transforms.hhblits_profile(
      msa_transforms.correct_msa_restypes(raw['msa']))  # [L, 22]
  cols = np.nonzero(masked)[2]
  expected = 0.1 + 0.1 * 0.05 * (true < 20) + 0.1 * profile[cols, true]
  assert abs((new == true).mean() - expected.mean()) < 4 * np.sqrt(0.25 / m)
  # Gap tokens are never drawn from the uniform part, X / gap only via profile or same.
  assert set(np.unique(new)) <= set(range(23))


def test_generator_categorical_matches_probabilities():
  rng = np.random.default_rng(2)
  probs = np.array([0.5, 0., 0.2, 0.3, 0.], np.float32)
  draws = GeneratorSampler(rng).categorical(np.tile(probs, (40000, 1)))
  freq = np.bincount(draws, minlength=5) / draws.size
  np.testing.assert_allclose(freq, probs, atol=0.01)
  assert freq[1] == 0 and freq[4] == 0


def test_cluster_assignment_and_profiles_hand_computed():
  rng = np.random.default_rng(4)
  num_centres, num_extra, num_res = 3, 7, 5
  feats = {
      'msa': rng.integers(0, 23, (num_centres, num_res)),
      'msa_mask': (rng.random((num_centres, num_res)) < 0.9).astype(np.float32),
      'deletion_matrix': rng.integers(0, 4, (num_centres, num_res)).astype(np.float32),
      'extra_msa': rng.integers(0, 22, (num_extra, num_res)),
      'extra_msa_mask': (rng.random((num_extra, num_res)) < 0.8).astype(np.float32),
      'extra_deletion_matrix': rng.integers(0, 5, (num_extra, num_res)).astype(np.float32),
  }
  assignment = msa_transforms.nearest_neighbor_clusters(feats)
  for e in range(num_extra):
    scores = [sum(1 for l in range(num_res)
                  if feats['extra_msa'][e, l] == feats['msa'][c, l] < 21
                  and feats['extra_msa_mask'][e, l] and feats['msa_mask'][c, l])
              for c in range(num_centres)]
    assert assignment[e] == int(np.argmax(scores))
  out = msa_transforms.summarize_clusters(feats, assignment)
  for c in range(num_centres):
    members = np.flatnonzero(assignment == c)
    for l in range(num_res):
      counts = np.zeros(23)
      counts[feats['msa'][c, l]] += 1
      for e in members:
        counts[feats['extra_msa'][e, l]] += feats['extra_msa_mask'][e, l]
      total = 1e-6 + feats['msa_mask'][c, l] + feats['extra_msa_mask'][members, l].sum()
      np.testing.assert_allclose(out['cluster_profile'][c, l], counts / total, rtol=1e-6)
      deletions = feats['deletion_matrix'][c, l] + (
          feats['extra_msa_mask'][members, l] * feats['extra_deletion_matrix'][members, l]).sum()
      np.testing.assert_allclose(out['cluster_deletion_mean'][c, l], deletions / total, rtol=1e-6)


def test_residue_padding_keeps_real_positions():
  raw = _random_raw(np.random.default_rng(8), num_res=11, num_rows=23)
  config = FeatureConfig(max_msa_clusters=7, max_extra_msa=13, num_recycle=1)
  plain = process_features(raw, config, seed=9)
  padded = process_features(raw, dataclasses.replace(config, num_res=16), seed=9)
  assert padded['msa_feat'].shape == (2, 7, 16, 49)
  for key, value in plain.items():
    pad = padded[key]
    if key in ('seq_length', 'is_distillation', 'random_crop_to_size_seed'):
      np.testing.assert_array_equal(pad, value, err_msg=key)
      continue
    axes = [i for i, (a, b) in enumerate(zip(value.shape, pad.shape)) if a != b]
    assert all(value.shape[i] == 11 and pad.shape[i] == 16 for i in axes), key
    real = tuple(slice(0, d) for d in value.shape)
    np.testing.assert_array_equal(pad[real], value, err_msg=key)
    assert np.count_nonzero(pad) == np.count_nonzero(value), key  # padding is all zeros


def test_deterministic_features_against_hand_expectations():
  raw = data_pipeline.make_raw_features('GAWX', 'tiny', None)
  feats = process_features(raw, FeatureConfig(max_msa_clusters=3, max_extra_msa=2,
                                               num_recycle=0), seed=0)
  np.testing.assert_array_equal(feats['aatype'][0], [7, 0, 17, 20])
  np.testing.assert_array_equal(feats['target_feat'][0, :, 1:].argmax(-1), [7, 0, 17, 20])
  assert feats['target_feat'][0, :, 0].sum() == 0
  assert feats['atom37_atom_exists'][0].sum(-1).tolist() == [4, 5, 14, 0]
  assert feats['atom14_atom_exists'][0].sum(-1).tolist() == [4, 5, 14, 0]
  np.testing.assert_array_equal(feats['msa_row_mask'][0], [1, 0, 0])
  np.testing.assert_array_equal(feats['seq_mask'][0], [1, 1, 1, 1])
  # Single row: its own cluster profile is its one-hot (up to the 1e-6 count regulariser).
  profile = feats['msa_feat'][0, 0, :, 25:48]
  np.testing.assert_allclose(profile.sum(-1), 1., rtol=1e-5)


def test_bad_raw_features_and_config():
  raw = data_pipeline.make_raw_features('ACDEFGH', 'q', None)
  with pytest.raises(FeatureError, match='msa'):
    process_features({k: v for k, v in raw.items() if k != 'msa'})
  with pytest.raises(FeatureError, match='num_res=5'):
    process_features(raw, FeatureConfig(num_res=5))
  with pytest.raises(FeatureError, match='shape'):
    process_features({**raw, 'msa': raw['msa'][:, :5]})
  with pytest.raises(ValueError, match='probabilities'):
    FeatureConfig(masked_msa_uniform_prob=0.5, masked_msa_profile_prob=0.6)
  with pytest.raises(TypeError):
    FeatureConfig(max_msa_cluster=3)  # unknown field
  assert feature_config_for_model('model_1_ptm').num_msa_clusters == 508


def test_package_entry_points_and_no_jax_import():
  assert data_pipeline.process_features is process_features
  assert data_pipeline.FeatureConfig is FeatureConfig
  code = ('import sys, data_pipeline, data_pipeline.processed_features, data_pipeline.raw_features;'
          'data_pipeline.make_raw_features; assert "jax" not in sys.modules, "imports jax"')
  subprocess.run([sys.executable, '-c', code], check=True, cwd=str(_REPO_ROOT))


def test_pad_to_fixed_size_single_example():
  from data_pipeline import feature_schema as fs
  rng = np.random.default_rng(6)
  feats = {'msa_feat': rng.random((3, 5, 49)).astype(np.float32), 'seq_length': np.int32(5),
           'not_in_schema': np.ones(2)}
  out = fs.pad_to_fixed_size(feats, {fs.NUM_MSA_SEQ: 7, fs.NUM_RES: 11})
  assert set(out) == {'msa_feat', 'seq_length'} and out['msa_feat'].shape == (7, 11, 49)
  np.testing.assert_array_equal(out['msa_feat'][:3, :5], feats['msa_feat'])
  assert not out['msa_feat'][3:].any() and not out['msa_feat'][:, 5:].any()
  with pytest.raises(FeatureError, match='fixed size 2'):
    fs.pad_to_fixed_size(feats, {fs.NUM_MSA_SEQ: 2})
