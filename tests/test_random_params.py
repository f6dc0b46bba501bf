"""tests/random_params.py's `init_without_forward` and `perturbed` (helpers of the oracle tests)."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from tests.random_params import init_without_forward, perturbed


def _net(x):
  for width in (7, 5):
    x = jax.nn.relu(hk.Linear(width, w_init=hk.initializers.TruncatedNormal(0.3))(x))
    x = hk.LayerNorm(-1, create_scale=True, create_offset=True)(x)
  x = hk.dropout(hk.next_rng_key(), 0.1, x)  # a forward-only rng draw between initialisers
  return hk.Linear(3, w_init=hk.initializers.RandomUniform())(x)


def test_init_without_forward_equals_haiku_init():
  transformed = hk.transform(_net)
  args = (jax.random.PRNGKey(3), jnp.ones((4, 9)))
  ours = init_without_forward(transformed.init, *args)
  ref = transformed.init(*args)
  assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(ref)
  for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(ref)):
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)
  other = init_without_forward(transformed.init, jax.random.PRNGKey(4), args[1])
  assert not np.array_equal(other['linear']['w'], ref['linear']['w'])


def test_perturbed_moves_every_leaf_by_its_std():
  params = {'m': {'w': jnp.zeros((300, 200)), 'b': jnp.ones((50,))}}
  noisy = perturbed(params, seed=0, std=0.01)
  assert abs(float(jnp.std(noisy['m']['w'])) - 0.01) < 5e-4
  assert float(jnp.min(jnp.abs(noisy['m']['b'] - 1.0))) > 0.0
  assert noisy['m']['w'].dtype == jnp.float32
