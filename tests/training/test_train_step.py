"""Train step: vmap == loop, shared recycle count, determinism, per-example clip, remat, bf16."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from alphafold_jax.training.config import TrainConfig
from alphafold_jax.training.data import stack_examples
from alphafold_jax.training.optimizer import make_optimizer
from alphafold_jax.training.state import create_train_state
from alphafold_jax.training.train_step import make_train_step, sample_num_recycle


def _grad_capture():
  """An optax 'optimizer' whose state is the last gradient (updates are zero)."""
  return optax.GradientTransformation(
      init=lambda p: jax.tree.map(jnp.zeros_like, p),
      update=lambda g, s, p=None: (jax.tree.map(jnp.zeros_like, g), g))


def _expected(loss_fn, params, batch, state_rng, config, clip=None):
  """Loop reference: the step's key derivation, written out, and per-example grads."""
  _, step_key = jax.random.split(state_rng)
  recycle_key, example_key = jax.random.split(step_key)
  n_rec = int(sample_num_recycle(recycle_key, config))
  b = batch['aatype'].shape[0]
  keys = jax.random.split(example_key, b)
  losses, grads = [], []
  grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True), static_argnums=3)
  for i in range(b):
    ex = {k: v[i] for k, v in batch.items()}
    (loss, _), g = grad_fn(params, ex, keys[i], n_rec)
    if clip is not None:
      norm = float(optax.global_norm(g))
      g = jax.tree.map(lambda x: x * min(1., clip / norm), g)
    losses.append(float(loss))
    grads.append(g)
  mean_grad = jax.tree.map(lambda *xs: np.mean(np.stack(xs), 0), *grads)
  return float(np.mean(losses)), mean_grad, n_rec


@pytest.mark.parametrize('clip_per_example', [False, True])
def test_step_equals_loop_of_examples(tiny_preset, tiny_params, tiny_examples, clip_per_example):
  config = TrainConfig(max_recycle=2, clip_global_norm=0.5, clip_per_example=clip_per_example)
  batch = stack_examples(tiny_examples)  # B = 4, one of them padded
  state = create_train_state(tiny_params, _grad_capture(), jax.random.PRNGKey(7))
  new_state, metrics = jax.jit(make_train_step(tiny_preset.loss_fn, _grad_capture(), config))(
      state, batch)
  want_loss, want_grad, n_rec = _expected(tiny_preset.loss_fn, tiny_params, batch,
                                          state.rng, config,
                                          clip=0.5 if clip_per_example else None)
  assert int(metrics['num_recycle']) == n_rec
  np.testing.assert_allclose(float(metrics['loss']), want_loss, rtol=1e-5)
  got = jax.tree.leaves(new_state.opt_state)
  # float32 summation-order noise scales with the largest gradient, not with each entry
  scale = max(float(np.max(np.abs(w))) for w in jax.tree.leaves(want_grad))
  for g, w in zip(got, jax.tree.leaves(want_grad)):
    np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4, atol=1e-5 * scale)
  assert int(new_state.step) == 1
  assert not np.array_equal(np.asarray(new_state.rng), np.asarray(state.rng))


def test_recycle_sampling_shared_deterministic_and_covering():
  config = TrainConfig(max_recycle=3)
  draws = [int(sample_num_recycle(jax.random.fold_in(jax.random.PRNGKey(0), i), config))
           for i in range(60)]
  assert set(draws) == {0, 1, 2, 3}
  again = [int(sample_num_recycle(jax.random.fold_in(jax.random.PRNGKey(0), i), config))
           for i in range(60)]
  assert draws == again
  fixed = config.replace(sample_recycle=False)
  assert int(sample_num_recycle(jax.random.PRNGKey(3), fixed)) == 3


def test_num_recycle_changes_the_loss(tiny_preset, tiny_params, tiny_examples):
  """The tiny model really recycles: a different cycle count gives a different loss."""
  ex = tiny_examples[1]
  params = jax.tree.map(lambda x: x + 0.05 * jnp.ones_like(x), tiny_params)  # non-zero recycle path
  l0, _ = tiny_preset.loss_fn(params, ex, jax.random.PRNGKey(0), 0)
  l2, _ = tiny_preset.loss_fn(params, ex, jax.random.PRNGKey(0), 2)
  assert abs(float(l0) - float(l2)) > 1e-3


def test_deterministic_for_a_seed(tiny_preset, tiny_params, tiny_examples):
  config = TrainConfig(max_recycle=2, warmup_steps=0, learning_rate=1e-2)
  opt = make_optimizer(config)
  step = jax.jit(make_train_step(tiny_preset.loss_fn, opt, config))
  batch = stack_examples(tiny_examples[:2])

  def run(seed):
    state = create_train_state(tiny_params, opt, jax.random.PRNGKey(seed))
    out = []
    for _ in range(4):
      state, m = step(state, batch)
      out.append((float(m['loss']), int(m['num_recycle'])))
    return out, state

  a, sa = run(1)
  b, sb = run(1)
  c, _ = run(2)
  assert a == b
  for x, y in zip(jax.tree.leaves(sa), jax.tree.leaves(sb)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  assert a != c
