"""The input pipeline: batches featurised in worker processes (grain) equal the in-process
sampler's bit for bit, from step 0 and from a resume step, per host; workers stop on close;
the trainer logs the data wait and the device idle fraction."""

import multiprocessing
import pathlib
import shutil

import numpy as np
import pytest

from alphafold_jax.training import logging as log_lib
from alphafold_jax.training.data import DatasetSampler
from alphafold_jax.training.loader import Feed, Loader, LoaderError
from alphafold_jax.training.trainer import train
from data_pipeline import dataset as dataset_lib
from data_pipeline.processed_features import FeatureConfig

DATA = pathlib.Path(__file__).resolve().parents[1] / 'data'


@pytest.fixture(scope='module')
def msa_sampler(tmp_path_factory):
  """Two chains read from files with their MSAs (processed: clusters, BERT mask, extra MSA),
  batch 2: what a worker has to do for the AF2 recipe, at small sizes."""
  root = tmp_path_factory.mktemp('loader')
  for structure, msa in (('1EGF.pdb', 'egf_1A3P_A'), ('102M.cif', 'myoglobin_102M_A')):
    shutil.copy(DATA / 'structures' / 'extra' / structure, root / structure)
    shutil.copytree(DATA / 'msa' / msa, root / structure.split('.')[0])
  dataset = dataset_lib.StructureDataset(root, dataset_lib.DatasetConfig(
      crop_size=21, buckets=None, num_res=21, msa_query='align', af2_filters=True,
      feature_config=FeatureConfig(max_msa_clusters=5, max_extra_msa=7, num_recycle=0)), seed=3)
  dataset.validate()
  return DatasetSampler(dataset, 2, weights=dataset.sampling_probs())


def _assert_same(a, b):
  assert sorted(a) == sorted(b)
  for key in a:
    assert a[key].dtype == b[key].dtype, key
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_worker_batches_equal_in_process_batches(msa_sampler):
  reference = [msa_sampler.host_batch(step) for step in range(6)]
  assert not all(np.array_equal(reference[0]['msa_feat'], r['msa_feat']) for r in reference[1:])
  with Loader(msa_sampler, num_workers=2, prefetch_depth=2) as loader:
    batches = loader.iterate(0)
    for step in range(6):
      _assert_same(next(batches), reference[step])
    assert multiprocessing.active_children()  # the workers
  assert not multiprocessing.active_children()  # closed: every worker stopped
  # A resume at step 3, one host's rows (the second slot of each global batch of 2).
  with Loader(msa_sampler, num_workers=1, prefetch_depth=1, rows=(1, 2)) as loader:
    batches = loader.iterate(3)
    for step in range(3, 6):
      _assert_same(next(batches), {k: v[1:2] for k, v in reference[step].items()})
  assert not multiprocessing.active_children()


def test_trainer_logs_data_wait_and_idle_fraction_and_workers_change_nothing(
    tiny_preset, tiny_named, tmp_path):
  examples = tiny_preset.make_examples(tiny_named, seed=0)
  params = tiny_preset.init(__import__('jax').random.PRNGKey(0), examples.example(0))
  config = tiny_preset.train_config.replace(num_steps=3, batch_size=2, checkpoint_every=0)
  runs = {}
  for workers in (0, 1):
    out = tmp_path / f'w{workers}'
    runs[workers] = train(tiny_preset.loss_fn, params, DatasetSampler(examples, 2),
                          config.replace(loader_workers=workers), out_dir=out, progress=False)
    records = [r for r in log_lib.read_jsonl(out / 'metrics.jsonl') if r['kind'] == 'train']
    assert [r['step'] for r in records] == [1, 2, 3]
    for r in records:
      assert r['data_wait_s'] >= 0 and 0 <= r['device_idle_fraction'] <= 1
  assert runs[0].losses == runs[1].losses  # bit-identical training with a worker
  assert not multiprocessing.active_children()
  # Workers need a host-aware sampler; a plain callable is refused up front.
  with pytest.raises(LoaderError, match='loader_workers=1 needs a step-keyed sampler'):
    Feed(lambda step: {}, None, config.replace(loader_workers=1), 0)
