"""Tests for ops/layer_stack.py: param layout, scan == loop (values and grads), remat, RNG, scope."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.nn import Linear, dropout
from alphafold_jax.ops.layer_stack import LayerStackError, TEMPLATE_STACK_SCOPE, layer_stack


def _block(x):
  h = jnp.tanh(Linear(7, name='inner')(x))
  h = dropout(h, 0.3, hk.next_rng_key())
  return x + Linear(x.shape[-1], name='outer')(h)


def _stacked(num, **kw):
  return hk.transform(lambda x: layer_stack(num, **kw)(_block)(x))


def test_param_layout_and_distinct_init():
  x = jnp.ones((3, 5))
  params = jax.jit(_stacked(4).init)(jax.random.PRNGKey(0), x)
  assert params['inner']['weights'].shape == (4, 5, 7)
  assert params['outer']['bias'].shape == (4, 5)
  w = np.asarray(params['inner']['weights'])
  assert not np.allclose(w[0], w[1])  # each layer has its own init


def test_scan_equals_python_loop_values_and_grads():
  x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 5)), jnp.float32)
  params = jax.jit(_stacked(3).init)(jax.random.PRNGKey(1), x)
  key = jax.random.PRNGKey(2)

  def manual(params, x):  # reference: slice each layer's params by hand, same per-layer keys
    k = key
    for i in range(3):
      k, sub = jax.random.split(k)
      p_i = jax.tree_util.tree_map(lambda v: v[i], params)
      x = hk.transform(_block).apply(p_i, sub, x)
    return x

  outs = {}
  for label, t in [('scan', _stacked(3)), ('loop', _stacked(3, unroll=True)),
                   ('remat', _stacked(3, remat=True))]:
    loss = lambda p: jnp.sum(jnp.sin(t.apply(p, key, x)))
    outs[label] = jax.jit(jax.value_and_grad(loss))(params)
  # The per-layer keys come from a key split off the apply key, so the hand loop uses the same ones.
  t_key = hk.transform(lambda: hk.next_rng_key())
  key = t_key.apply({}, key)
  ref = jax.jit(jax.value_and_grad(lambda p: jnp.sum(jnp.sin(manual(p, x)))))(params)
  for label in ('scan', 'loop', 'remat'):
    assert abs(float(outs[label][0] - ref[0])) < 1e-5, label
    for a, b in zip(jax.tree_util.tree_leaves(outs[label][1]), jax.tree_util.tree_leaves(ref[1])):
      np.testing.assert_allclose(a, b, atol=1e-5)


def test_layers_get_different_dropout_keys():
  t = hk.transform(lambda x: layer_stack(2)(lambda h: h + dropout(jnp.ones_like(h), 0.5, hk.next_rng_key()))(x))
  out = np.asarray(jax.jit(t.apply)({}, jax.random.PRNGKey(0), jnp.zeros((64,))))
  # Two layers with independent masks: values 0, 2 and 4 all appear.
  assert {0.0, 2.0, 4.0} <= set(np.round(out, 4).tolist())


def test_scope_and_shape_errors():
  x = jnp.ones((2, 3))
  params = jax.eval_shape(hk.transform(lambda x: layer_stack(2, name=TEMPLATE_STACK_SCOPE)(_block)(x)).init,
                          jax.random.PRNGKey(0), x)
  assert set(params) == {f'{TEMPLATE_STACK_SCOPE}/inner', f'{TEMPLATE_STACK_SCOPE}/outer'}
  params3 = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape), jax.eval_shape(
      _stacked(3).init, jax.random.PRNGKey(0), x))
  with pytest.raises(LayerStackError, match='stack of 2 layers'):
    _stacked(2).apply(params3, jax.random.PRNGKey(0), x)
  with pytest.raises(LayerStackError, match='num_layers'):
    layer_stack(0)
