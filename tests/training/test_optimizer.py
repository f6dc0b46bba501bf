"""Optimizer chain and TrainConfig: schedule values, clipping, AdamW decay, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.training.config import TrainConfig, TrainConfigError, from_dict
from alphafold_jax.training.optimizer import make_optimizer, make_schedule


def test_af2_defaults():
  c = TrainConfig()
  assert (c.learning_rate, c.clip_global_norm, c.adam_b1, c.adam_b2, c.adam_eps) == (
      1e-3, 0.1, 0.9, 0.999, 1e-6)
  assert (c.warmup_steps, c.decay_steps, c.decay_rate, c.max_recycle) == (1000, 50_000, 0.95, 3)


@pytest.mark.parametrize('decay', ['constant', 'step', 'exponential', 'cosine'])
def test_schedule_values(decay):
  lr, warm, dsteps, rate = 2e-3, 7, 11, 0.5
  c = TrainConfig(learning_rate=lr, warmup_steps=warm, decay=decay, decay_steps=dsteps,
                  decay_rate=rate)
  sched = make_schedule(c)
  for s in range(0, 40):
    got = float(sched(s))
    if s < warm:
      want = lr * (s + 1) / warm
    else:
      t = s - warm
      want = {'constant': lr,
              'step': lr * rate ** (t // dsteps),
              'exponential': lr * rate ** (t / dsteps),
              'cosine': lr * ((1 - rate) * 0.5 * (1 + np.cos(np.pi * min(t, dsteps) / dsteps))
                              + rate)}[decay]
    np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f'{decay} step {s}')


def test_clipping_is_global_norm_in_chain():
  # With a large eps Adam's first update is ~ -lr * g / (|g| + eps): magnitude-sensitive,
  # so the global-norm clip (to 0.1) is visible in the update.
  c = TrainConfig(learning_rate=1., warmup_steps=0, decay='constant', adam_eps=1.,
                  clip_global_norm=0.1)
  params = {'a': {'w': jnp.zeros((3, 5))}, 'b': {'w': jnp.zeros((7,))}}
  rng = np.random.default_rng(0)
  grads = {'a': {'w': jnp.asarray(rng.normal(size=(3, 5)), jnp.float32)},
           'b': {'w': jnp.asarray(rng.normal(size=(7,)), jnp.float32)}}
  norm = np.sqrt(sum(float(jnp.sum(g ** 2)) for g in jax.tree.leaves(grads)))
  opt = make_optimizer(c)
  updates, _ = opt.update(grads, opt.init(params), params)
  for key in ('a', 'b'):
    g = np.asarray(grads[key]['w']) * 0.1 / norm  # clipped gradient
    want = -g / (np.abs(g) + 1.)  # Adam step 1: m_hat = g, sqrt(v_hat) = |g|
    np.testing.assert_allclose(np.asarray(updates[key]['w']), want, rtol=1e-5, atol=1e-7)
  # Per-example clipping moves the clip into the train step: the chain must not clip.
  opt2 = make_optimizer(c.replace(clip_per_example=True))
  updates2, _ = opt2.update(grads, opt2.init(params), params)
  g = np.asarray(grads['a']['w'])
  np.testing.assert_allclose(np.asarray(updates2['a']['w']), -g / (np.abs(g) + 1.), rtol=1e-5)


def test_adamw_weight_decay():
  c = TrainConfig(optimizer='adamw', weight_decay=0.3, learning_rate=0.01, warmup_steps=0,
                  decay='constant', clip_global_norm=0.)
  params = {'m': {'w': jnp.asarray([1., -2., 3.])}}
  grads = {'m': {'w': jnp.asarray([0.5, 0.5, -0.5])}}
  opt = make_optimizer(c)
  updates, _ = opt.update(grads, opt.init(params), params)
  adam_part = -np.sign([0.5, 0.5, -0.5]) * 0.5 / (0.5 + 1e-6)
  want = 0.01 * (adam_part - 0.3 * np.asarray([1., -2., 3.]))
  np.testing.assert_allclose(np.asarray(updates['m']['w']), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('bad', [
    dict(batch_size=0), dict(optimizer='sgd'), dict(learning_rate=0.), dict(decay='linear'),
    dict(weight_decay=0.1), dict(max_recycle=-1),
    dict(keep_checkpoints=0), dict(log_every=0), dict(decay_rate=1.5)])
def test_config_rejects_bad_values(bad):
  with pytest.raises(TrainConfigError):
    TrainConfig(**bad)


def test_config_unknown_field_fails():
  with pytest.raises(TrainConfigError, match='no field'):
    from_dict({'learning_rat': 1e-3})
  with pytest.raises(TypeError):
    TrainConfig(learning_rat=1e-3)  # pylint: disable=unexpected-keyword-arg
  assert from_dict(TrainConfig(seed=5).to_dict()) == TrainConfig(seed=5)
