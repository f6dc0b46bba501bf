"""Step-keyed batches, padding, evaluation metrics, multi-host flag/env resolution."""

import pathlib

import jax
import numpy as np
import pytest

from alphafold_jax.training import data as data_lib
from alphafold_jax.training import distributed
from alphafold_jax.training import presets
from data_pipeline import transforms
from alphafold_jax.training.evaluation import Evaluator, reference_ca, structure_metrics


def _examples(n, num_res=5):
  return [{'x': np.full((num_res, 3), i, np.float32), 'i': np.array([i] * num_res)}
          for i in range(n)]


def test_sampler_is_a_pure_function_of_seed_and_step():
  s = data_lib.ExampleSampler(_examples(7), batch_size=3, seed=11)
  ids = [s.indices(step) for step in range(14)]  # 42 slots = 6 epochs of 7
  flat = sum(ids, [])
  for e in range(6):
    assert sorted(flat[7 * e: 7 * e + 7]) == list(range(7))  # each epoch covers all
  assert flat[:7] != flat[7:14]  # reshuffled between epochs
  fresh = data_lib.ExampleSampler(_examples(7), batch_size=3, seed=11)
  np.testing.assert_array_equal(fresh(9)['i'][:, 0], ids[9])  # no hidden iterator state
  assert data_lib.ExampleSampler(_examples(7), 3, seed=12).indices(0) != ids[0]
  batch = s(2)
  assert batch['x'].shape == (3, 5, 3) and batch['i'].shape == (3, 5)


def test_dataset_sampler_over_data_pipeline(tmp_path):
  import shutil
  from data_pipeline.dataset import DatasetConfig, StructureDataset
  nano = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'structures' / 'nano'
  for name in ('1L2Y', '1VII', '1CRN'):
    shutil.copy(nano / f'{name}.pdb', tmp_path / f'{name}.pdb')
  ds = StructureDataset(tmp_path, DatasetConfig(crop_size=11, buckets=None), seed=5)
  sampler = data_lib.DatasetSampler(ds, batch_size=2)
  b0, b3 = sampler(0), sampler(3)
  assert b0['aatype'].shape == (2, 11) and b0['all_atom_positions'].shape == (2, 11, 37, 3)
  assert {k: v.shape for k, v in b0.items()} == {k: v.shape for k, v in b3.items()}
  again = data_lib.DatasetSampler(StructureDataset(tmp_path, ds.config, seed=5), 2)(3)
  for key in b3:
    np.testing.assert_array_equal(again[key], b3[key])
  slots = [data_lib.slot_order(s, 2, 3, 5) for s in range(3)]  # 6 slots = 2 epochs of 3
  assert sorted(i for _, i in sum(slots, [])[:3]) == [0, 1, 2]


def test_stack_and_pad_errors():
  with pytest.raises(data_lib.DataError, match='different shapes'):
    data_lib.stack_examples([{'a': np.zeros(3)}, {'a': np.zeros(4)}])
  with pytest.raises(data_lib.DataError, match='keys'):
    data_lib.stack_examples([{'a': np.zeros(3)}, {'b': np.zeros(3)}])
  # Padding and cropping are data_pipeline.transforms' (the one builder's) job.
  axes = {'a': (0,), 'b': (0,)}
  padded = transforms.pad_example({'a': np.arange(1, 6), 'b': np.ones((5, 2))}, 7, axes)
  np.testing.assert_array_equal(padded['a'], [1, 2, 3, 4, 5, 0, 0])
  assert padded['b'].shape == (7, 2) and padded['b'][5:].sum() == 0
  np.testing.assert_array_equal(transforms.crop_example({'a': np.arange(5)}, 0, 3, axes)['a'],
                                [0, 1, 2])
  with pytest.raises(data_lib.DataError, match='not found'):
    data_lib.list_structure_files('/nonexistent/dir')


def test_structure_metrics_perfect_moved_and_noisy(tiny_examples):
  true_ca, mask = reference_ca(tiny_examples[3])  # padded example
  assert mask.sum() == 9 and mask[9:].sum() == 0
  rng = np.random.default_rng(0)
  q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
  q *= np.sign(np.linalg.det(q))
  moved = true_ca @ q.T + np.array([3., -7., 11.])
  moved[~mask.astype(bool)] = 99.  # padded positions must not matter
  m = structure_metrics(moved, true_ca, mask)
  assert m['ca_rmsd'] < 1e-3 and m['lddt_ca'] > 0.999 and m['tm_score'] > 0.999
  noisy = structure_metrics(true_ca + rng.normal(scale=2., size=true_ca.shape), true_ca, mask)
  assert 1. < noisy['ca_rmsd'] < 5. and noisy['lddt_ca'] < 0.9 and noisy['tm_score'] < 0.9


def test_evaluator_with_oracle_predictor(tiny_named, tiny_examples):
  def predict(params, example, rng):
    return example['all_atom_positions'][:, 1] + params['shift']  # [N, 3]

  ev = Evaluator(predict, presets.evaluation_examples(tiny_named[:2], None), num_seeds=2)
  means, rows = ev({'shift': np.float32(5.)})  # a pure translation is perfect
  assert means['ca_rmsd'] < 1e-3 and means['ca_rmsd_worst'] < 1e-3
  assert [r['name'] for r in rows] == ['1L2Y', '1VII'] and [r['num_res'] for r in rows] == [20, 36]
  with pytest.raises(ValueError):
    Evaluator(predict, [])
  with pytest.raises(ValueError, match='ExampleSet'):  # fixed (training) features are refused
    Evaluator(predict, tiny_examples[:2])


def test_distributed_resolution_flags_env_and_errors():
  env = {distributed.ENV_COORDINATOR: '10.1.2.3:999', distributed.ENV_NUM_PROCESSES: '4',
         distributed.ENV_PROCESS_ID: '2', distributed.ENV_LOCAL_DEVICES: '0,1'}
  c = distributed.resolve(environ=env)
  assert (c.coordinator_address, c.num_processes, c.process_id, c.local_device_ids) == (
      '10.1.2.3:999', 4, 2, (0, 1)) and c.enabled
  c = distributed.resolve(process_id=3, environ=env)  # flags win over the environment
  assert c.process_id == 3
  assert not distributed.resolve(environ={}).enabled
  assert distributed.initialize(distributed.resolve(environ={})) is False
  with pytest.raises(distributed.DistributedConfigError, match='all of'):
    distributed.resolve(coordinator='h:1', environ={})
  with pytest.raises(distributed.DistributedConfigError, match='host:port'):
    distributed.resolve(coordinator='nohost', num_processes=2, process_id=0, environ={})
  with pytest.raises(distributed.DistributedConfigError, match='outside'):
    distributed.resolve(coordinator='h:1', num_processes=2, process_id=2, environ={})
  with pytest.raises(distributed.DistributedConfigError, match='integer'):
    distributed.resolve(environ={distributed.ENV_NUM_PROCESSES: 'two'})
  assert jax.process_count() == 1
