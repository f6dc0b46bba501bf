"""Preset examples come from the one builder: MSA processing redrawn per use (AF2), exactly
reproducible per step; evaluation featurises from the sequence with its own seeds, as
`alphafold-jax predict` does (issues #19, #22)."""

import dataclasses

import numpy as np
import pytest

from alphafold_jax.training import data as data_lib
from alphafold_jax.training import presets
from alphafold_jax.training.evaluation import Evaluator
from data_pipeline import examples as examples_lib
from data_pipeline.processed_features import process_features
from data_pipeline.raw_features import make_raw_features


@pytest.fixture(scope='module')
def nano_ipa():
  return presets.get_preset('nano_ipa')


def test_presets_declare_their_examples():
  for name, crop, msa in (('tiny_ca', 64, False), ('nano_ipa', 80, True),
                          ('nano_diffusion', 80, False)):
    preset = presets.get_preset(name)
    assert preset.crop_size == crop and (preset.feature_config is not None) == msa, name


def test_bert_mask_redrawn_per_step_and_identical_for_the_same_step(nano_ipa, tiny_named):
  examples = nano_ipa.make_examples(tiny_named, seed=3)
  sampler = data_lib.DatasetSampler(examples, batch_size=1)
  # 3 proteins, batch 1: steps 0-2 are epoch 0, steps 3-5 epoch 1; find protein 0 in each.
  step_of = {(epoch, index): step for step in range(6)
             for epoch, index in data_lib.slot_order(step, 1, 3, 3)}
  first, second = step_of[(0, 0)], step_of[(1, 0)]
  a, b = sampler(first), sampler(second)
  assert a['aatype'].shape == (1, 46) and a['bert_mask'].shape == (1, 1, 46)
  np.testing.assert_array_equal(a['aatype'], b['aatype'])  # the same protein (1L2Y) ...
  n = int(a['seq_mask'].sum())
  assert a['bert_mask'][0, 0, :n].sum() > 0 and b['bert_mask'][0, 0, :n].sum() > 0
  assert not np.array_equal(a['bert_mask'], b['bert_mask'])  # ... masked afresh
  assert not np.array_equal(a['msa_feat'], b['msa_feat'])
  # The same step (a fresh sampler, as after a resume) gives the identical batch.
  again = data_lib.DatasetSampler(nano_ipa.make_examples(tiny_named, seed=3), 1)(first)
  assert set(again) == set(a)
  for key in a:
    np.testing.assert_array_equal(again[key], a[key], err_msg=key)
  # Another run seed draws other masks.
  other = data_lib.DatasetSampler(nano_ipa.make_examples(tiny_named, seed=4), 1)
  step4 = {index: step for step in range(3) for _, index in data_lib.slot_order(step, 1, 3, 4)}
  assert not np.array_equal(other(step4[0])['bert_mask'], a['bert_mask'])


def test_evaluation_featurises_from_the_sequence_with_its_own_seeds(nano_ipa, tiny_named,
                                                                    monkeypatch):
  calls = []
  real = examples_lib.process_features

  def spy(raw, config, seed=0):
    calls.append((raw, seed))
    return real(raw, config, seed)

  monkeypatch.setattr(examples_lib, 'process_features', spy)

  def predict(params, example, rng):  # perfect predictor: scores only the features' labels
    del rng
    return example['all_atom_positions'][:, 1] + params['shift']

  named = tiny_named[:2]
  train_batch = data_lib.DatasetSampler(nano_ipa.make_examples(named, seed=7), 2)(0)
  train_seeds = [seed for _, seed in calls]
  assert all(isinstance(s, np.random.Generator) for s in train_seeds)  # keyed by the step
  calls.clear()
  evaluator = Evaluator(predict, nano_ipa.make_eval_examples(named), seed=7, num_seeds=3)
  means, rows = evaluator({'shift': np.float32(2.)})
  assert [seed for _, seed in calls] == [7, 8, 9, 7, 8, 9]  # predict's seeds: seed + k
  assert means['ca_rmsd'] < 1e-3 and means['ca_rmsd_worst'] < 1e-3 and len(rows) == 2
  # Features from the sequence (residues 0..L-1), as `predict` builds them.
  for raw, _ in calls:
    np.testing.assert_array_equal(raw['residue_index'], np.arange(raw['aatype'].shape[0]))
  example = evaluator.examples.build(1, 8)
  sequence = examples_lib.protein_sequence(named[1][1])
  config = dataclasses.replace(nano_ipa.feature_config, num_res=36)
  want = process_features(make_raw_features(sequence, '1VII'), config, 8)
  for key, value in want.items():
    np.testing.assert_array_equal(example[key], value[0], err_msg=key)
  # ... and not the training features.
  index = [i for i in range(2) if np.array_equal(train_batch['aatype'][i], example['aatype'])]
  assert index and not np.array_equal(train_batch['bert_mask'][index[0]], example['bert_mask'])

