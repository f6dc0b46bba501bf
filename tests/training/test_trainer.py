"""Training loop: tiny overfit (loss falls, no NaN), logs / PNG / eval outputs, NaN guard."""

import json
import time

import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.training import logging as log_lib
from alphafold_jax.training.config import TrainConfig
from alphafold_jax.training import presets
from alphafold_jax.training.data import DatasetSampler, ExampleSampler
from alphafold_jax.training.evaluation import Evaluator
from alphafold_jax.training.trainer import Trainer, TrainingDivergedError, train


def test_overfit_loss_decreases_and_outputs(tiny_preset, tiny_params, tiny_named, tmp_path):
  """Whole chains of 1L2Y and 1VII through the preset's builders (training examples built per
  step; evaluation featurised from the sequence per seed)."""
  named = tiny_named[:2]
  examples = presets.training_examples(named, None, None)  # no crop: whole chains
  config = TrainConfig(batch_size=2, num_steps=60, learning_rate=1e-2, warmup_steps=5,
                       decay='cosine', decay_steps=60, decay_rate=0.1, max_recycle=1,
                       clip_global_norm=1., checkpoint_every=0, eval_every=30, log_every=2,
                       ema_decay=0.0)  # evaluate and export the raw params
  evaluator = Evaluator(tiny_preset.predict_ca, tiny_preset.make_eval_examples(named))
  before, _ = evaluator(tiny_params)
  result = train(tiny_preset.loss_fn, tiny_params, DatasetSampler(examples, 2), config,
                 out_dir=tmp_path, evaluator=evaluator, progress=True)
  losses = [result.losses[s] for s in sorted(result.losses)]
  assert len(losses) == 60 and np.all(np.isfinite(losses))
  assert np.mean(losses[-5:]) < 0.3 * np.mean(losses[:5]), losses
  after, rows = evaluator(result.state.params)
  assert after['ca_rmsd'] < before['ca_rmsd'] and after['lddt_ca'] > before['lddt_ca']
  assert [r['name'] for r in rows] == ['1L2Y', '1VII']
  # Observability files.
  records = log_lib.read_jsonl(tmp_path / 'metrics.jsonl')
  train_steps = [r['step'] for r in records if r['kind'] == 'train']
  assert train_steps == list(range(2, 61, 2))
  assert [r['step'] for r in records if r['kind'] == 'eval'] == [30, 60]
  assert all(np.isfinite(r['loss']) and 'grad_norm' in r and 'learning_rate' in r
             for r in records if r['kind'] == 'train')
  assert (tmp_path / 'loss_curve.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  saved = json.loads((tmp_path / 'eval.json').read_text())
  assert saved['step'] == 60 and {'ca_rmsd', 'lddt_ca', 'tm_score'} <= set(saved['mean'])
  np.testing.assert_allclose(saved['mean']['ca_rmsd'], after['ca_rmsd'], rtol=1e-4)


def test_nan_loss_stops_training(tiny_preset, tiny_params, tiny_examples):
  def bad_loss(params, example, rng, num_recycle):
    loss, metrics = tiny_preset.loss_fn(params, example, rng, num_recycle)
    return loss * jnp.log(example['seq_mask'][-1] - 1.), metrics  # NaN on the padded example

  config = TrainConfig(batch_size=2, num_steps=3, warmup_steps=0, checkpoint_every=0)
  with pytest.raises(TrainingDivergedError, match='non-finite'):
    train(bad_loss, tiny_params, ExampleSampler(tiny_examples, 2, 0), config, progress=False)


def test_iterable_batches_equal_step_function(tiny_preset, tiny_params, tiny_examples):
  sampler = ExampleSampler(tiny_examples, 2, 0)
  config = TrainConfig(batch_size=2, num_steps=3, warmup_steps=0, checkpoint_every=0)
  trainer = Trainer(tiny_preset.loss_fn, config)
  a = trainer.fit(tiny_params, (sampler(s) for s in range(10)), progress=False)
  b = trainer.fit(tiny_params, sampler, progress=False)
  assert a.losses == b.losses and len(set(a.losses.values())) == 3


def test_deadline_stops_after_the_step_and_finishes(tiny_preset, tiny_params, tiny_examples,
                                                    tmp_path):
  """A deadline already past: exactly one step, then the normal ending (checkpoint, export)."""
  config = TrainConfig(batch_size=2, num_steps=50, warmup_steps=0, checkpoint_every=0)
  result = train(tiny_preset.loss_fn, tiny_params, ExampleSampler(tiny_examples, 2, 0), config,
                 out_dir=tmp_path, progress=False, deadline=time.monotonic() - 1.0)
  assert sorted(result.losses) == [1] and int(result.state.step) == 1
  assert [p.name for p in (tmp_path / 'checkpoints').iterdir() if p.name.isdigit()] == ['1']
  assert (tmp_path / 'params.npz').exists() and (tmp_path / 'loss_curve.png').exists()
  far = train(tiny_preset.loss_fn, tiny_params, ExampleSampler(tiny_examples, 2, 0),
              config.replace(num_steps=3), progress=False, deadline=time.monotonic() + 3600)
  assert sorted(far.losses) == [1, 2, 3] and far.losses[1] == result.losses[1]
