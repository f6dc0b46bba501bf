"""Checkpoints: kill + resume == uninterrupted (bit-identical), partial dirs, npz export."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax import params as params_lib
from alphafold_jax.training import checkpoints as ckpt_lib
from alphafold_jax.training import logging as log_lib
from alphafold_jax.training import presets
from alphafold_jax.training.config import TrainConfig
from alphafold_jax.training.data import DatasetSampler, ExampleSampler
from alphafold_jax.training.trainer import Trainer, train
from data_pipeline.processed_features import FeatureConfig

STEPS = 6


@pytest.fixture(scope='module')
def setup(tiny_preset, tiny_params, tiny_examples):
  config = TrainConfig(batch_size=2, num_steps=STEPS, learning_rate=1e-2, warmup_steps=2,
                       decay='exponential', decay_steps=3, decay_rate=0.7, max_recycle=2,
                       clip_global_norm=1., checkpoint_every=2, keep_checkpoints=5, seed=3)
  sampler = ExampleSampler(tiny_examples, config.batch_size, config.seed)
  trainer = Trainer(tiny_preset.loss_fn, config)  # one compiled step for every run below
  return trainer, tiny_params, sampler, config


@pytest.fixture(scope='module')
def uninterrupted(setup, tmp_path_factory):
  trainer, params, sampler, _ = setup
  out = tmp_path_factory.mktemp('full')
  result = trainer.fit(params, sampler, out_dir=out, progress=False)
  return result, out


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]


def _assert_same_run(result, reference, final=True):
  ref_result, _ = reference
  for step, loss in result.losses.items():
    assert loss == ref_result.losses[step], (step, loss, ref_result.losses[step])
  if not final:
    return
  for a, b in zip(_leaves(result.state), _leaves(ref_result.state)):
    np.testing.assert_array_equal(a, b)


def test_kill_and_resume_is_bit_identical(setup, uninterrupted, tmp_path):
  trainer, params, sampler, config = setup
  first = trainer.fit(params, sampler, out_dir=tmp_path, progress=False, stop_after=3)
  assert sorted(first.losses) == [1, 2, 3]  # "killed" after step 3; last checkpoint: step 2
  resumed = trainer.fit(params, sampler, out_dir=tmp_path, resume=True, progress=False)
  assert resumed.resumed_from == 2 and sorted(resumed.losses) == [3, 4, 5, 6]
  _assert_same_run(first, uninterrupted, final=False)
  _assert_same_run(resumed, uninterrupted)
  # The metrics log of the resumed run equals the uninterrupted one (minus wall times).
  strip = lambda recs: [{k: v for k, v in r.items() if k not in log_lib.TIMING_KEYS}
                        for r in recs]
  assert strip(log_lib.read_jsonl(tmp_path / 'metrics.jsonl')) == strip(
      log_lib.read_jsonl(uninterrupted[1] / 'metrics.jsonl'))
  # Fresh params (a different init) are overwritten by the checkpoint on resume.
  other = jax.tree.map(lambda x: x + 1., params)
  again = trainer.fit(other, sampler, out_dir=tmp_path, resume=True, progress=False)
  assert again.resumed_from == STEPS and again.losses == {}
  _assert_same_run(again, uninterrupted)


def test_partial_checkpoints_do_not_break_restore(setup, uninterrupted, tmp_path):
  trainer, params, sampler, _ = setup
  trainer.fit(params, sampler, out_dir=tmp_path, progress=False, stop_after=4)
  ckdir = tmp_path / 'checkpoints'
  assert sorted(os.listdir(ckdir)) == ['2', '4']
  # (a) orbax's temporary dir of a write killed mid-way, (b) a step dir without the
  # finalisation file, (c) a finalised-looking step whose arrays are garbage.
  (ckdir / '5.orbax-checkpoint-tmp-1712345678').mkdir()
  (ckdir / '5.orbax-checkpoint-tmp-1712345678' / 'state').mkdir()
  (ckdir / '6').mkdir()
  (ckdir / '6' / 'state').mkdir()
  (ckdir / '6' / 'state' / 'partial').write_bytes(b'\x00' * 17)
  os.makedirs(ckdir / '4' / 'x')
  import shutil
  shutil.copytree(ckdir / '4', ckdir / '5')
  for root, _, files in os.walk(ckdir / '5' / 'state'):
    for f in files:
      with open(os.path.join(root, f), 'wb') as fh:
        fh.write(b'garbage')
  resumed = trainer.fit(params, sampler, out_dir=tmp_path, resume=True, progress=False)
  assert resumed.resumed_from == 4 and sorted(resumed.losses) == [5, 6]
  _assert_same_run(resumed, uninterrupted)
  names = sorted(os.listdir(ckdir))
  assert '5.incomplete' in names and '6.incomplete' in names
  assert {'2', '4', '6'} <= set(names)  # the resumed run wrote its own step-6 checkpoint


def test_no_usable_checkpoint_is_a_clear_error(setup, tmp_path):
  trainer, params, _, _ = setup
  with pytest.raises(ckpt_lib.CheckpointError, match='no checkpoint'):
    ckpt_lib.Checkpointer(tmp_path).restore(trainer.init_state(params))


def test_resume_with_changed_config_fails(setup, uninterrupted, tiny_preset):
  _, params, sampler, config = setup
  _, out = uninterrupted
  with pytest.raises(ckpt_lib.CheckpointError, match='learning_rate'):
    train(tiny_preset.loss_fn, params, sampler,
          config.replace(learning_rate=0.5, num_steps=STEPS + 1),
          out_dir=out, resume=True, progress=False)


def test_export_af2_npz_layout(uninterrupted):
  result, out = uninterrupted
  path = out / 'params.npz'
  with np.load(path) as f:
    keys = sorted(f.files)
  assert all('//' in k for k in keys) and 'tiny_ca/hidden//weights' in keys
  # The exported weights are the EMA of the params (TrainConfig.ema_decay; trainer.weights).
  loaded = params_lib.load_alphafold_params(path, expected=jax.device_get(result.state.ema_params))
  for scope, leaves in jax.device_get(result.state.ema_params).items():
    for name, value in leaves.items():
      np.testing.assert_array_equal(loaded[scope][name], value)


def test_resume_with_examples_redrawn_every_step(tiny_preset, tiny_params, tiny_named, tmp_path):
  """Batches built afresh every step (crop window + MSA processing keyed by (seed, epoch,
  index), as the presets train): kill + resume == uninterrupted, bit for bit."""
  features = FeatureConfig(max_msa_clusters=2, max_extra_msa=3, num_recycle=0)

  def make_sampler():
    return DatasetSampler(presets.training_examples(tiny_named, 11, features, seed=4), 2)

  def loss_fn(params, example, rng, num_recycle):  # the loss also reads the BERT mask
    loss, metrics = tiny_preset.loss_fn(params, example, rng, num_recycle)
    return loss * (1. + 0.1 * jnp.mean(example['bert_mask'])), metrics

  config = TrainConfig(batch_size=2, num_steps=5, learning_rate=1e-2, warmup_steps=0,
                       max_recycle=1, clip_global_norm=1., checkpoint_every=2, seed=4)
  trainer = Trainer(loss_fn, config)
  full = trainer.fit(tiny_params, make_sampler(), out_dir=tmp_path / 'full', progress=False)
  first = trainer.fit(tiny_params, make_sampler(), out_dir=tmp_path / 'run', progress=False,
                      stop_after=3)
  resumed = trainer.fit(tiny_params, make_sampler(), out_dir=tmp_path / 'run', resume=True,
                        progress=False)
  assert resumed.resumed_from == 2 and sorted(resumed.losses) == [3, 4, 5]
  for step, loss in {**first.losses, **resumed.losses}.items():
    assert loss == full.losses[step], step
  for a, b in zip(_leaves(resumed.state), _leaves(full.state)):
    np.testing.assert_array_equal(a, b)
