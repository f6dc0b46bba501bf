"""Tests for ops/remat.py: remat_in_backward == plain (values, grads), closures, and memory."""

import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.ops.remat import remat_in_backward


def _inputs(seed):
  rng = np.random.default_rng(seed)
  w = jnp.asarray(rng.standard_normal((3, 5, 7)) / 3, jnp.float32)  # 3 stacked "layers"
  x = jnp.asarray(rng.standard_normal((11, 5)), jnp.float32)
  y = jnp.asarray(rng.standard_normal((11, 7)), jnp.float32)
  return w, x, y


def _loss(w, x, y, wrap):
  """A scan over 3 layers; each layer's body reads its weight through a closed-over traced
  index (as the layer stack does) and maps a pytree to a pytree."""

  def layer(carry, i):
    w_i = w[i]  # closed over by `branch`: float weights and an int32 index tracer

    def branch(args):
      a, b = args
      h = jnp.tanh(a @ w_i) * (1.0 + i.astype(jnp.float32))  # [11, 7]
      return {'a': a + jnp.sin(h) @ w_i.T, 'b': b * jax.nn.sigmoid(h)}

    out = wrap(branch)(carry)
    return (out['a'], out['b']), None

  (a, b), _ = jax.lax.scan(layer, (x, y), jnp.arange(3))
  return jnp.sum(jnp.cos(a)) + jnp.sum(b ** 2)


def test_values_and_grads_equal_plain_with_closures_and_scan():
  w, x, y = _inputs(0)
  grad = lambda wrap: jax.jit(jax.value_and_grad(lambda *a: _loss(*a, wrap), argnums=(0, 1, 2)))
  v_ref, g_ref = grad(lambda f: f)(w, x, y)
  v, g = grad(remat_in_backward)(w, x, y)
  np.testing.assert_allclose(v, v_ref, rtol=1e-6)
  for a, b in zip(g, g_ref):
    assert float(jnp.abs(b).max()) > 0
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_vmap_and_integer_inputs():
  w, x, y = _inputs(1)
  f = lambda a, k: jnp.tanh(a @ w[k])  # k: an integer input (zero cotangent)
  g = remat_in_backward(f)
  batched = jnp.stack([x, 2 * x])  # [2, 11, 5]
  ks = jnp.array([0, 2])
  loss = lambda fn, b: jnp.sum(jax.vmap(fn)(b, ks) ** 3)
  run = jax.jit(lambda b: (jax.grad(lambda c: loss(g, c))(b), jax.grad(lambda c: loss(f, c))(b),
                           jax.vmap(g)(b, ks), jax.vmap(f)(b, ks)))
  grad_remat, grad_plain, out_remat, out_plain = run(batched)
  np.testing.assert_allclose(grad_remat, grad_plain, atol=1e-5)
  np.testing.assert_allclose(out_remat, out_plain, atol=1e-6)


def _chain_temp_bytes(wrap, depth, n=64, wide=2048):
  """XLA temp of grad through `depth` residual branches, each an attention-like
  softmax(x @ w) @ w.T with a [n, wide] hidden activation."""
  rng = np.random.default_rng(2)
  ws = [jnp.asarray(rng.standard_normal((n, wide)) / 8, jnp.float32) for _ in range(depth)]

  def loss(x, ws):
    for w in ws:
      x = x + wrap(lambda v, w=w: jax.nn.softmax(v @ w, axis=-1) @ w.T)(x)  # [n, n]
    return jnp.sum(jnp.sin(x))

  x = jnp.asarray(rng.standard_normal((n, n)), jnp.float32)
  compiled = jax.jit(jax.grad(loss, argnums=1)).lower(x, ws).compile()
  return compiled.memory_analysis().temp_size_in_bytes


def test_recomputation_waits_for_the_backward_pass():
  """Plain autodiff keeps every branch's [n, wide] activations (XLA temp grows with depth);
  with remat_in_backward only the branch inputs are kept and the temp stays flat.
  (jax.checkpoint alone grows like plain on CPU: XLA drops its optimisation barriers.)"""
  hidden = 64 * 2048 * 4
  plain = [_chain_temp_bytes(lambda f: f, d) for d in (2, 8)]
  remat = [_chain_temp_bytes(remat_in_backward, d) for d in (2, 8)]
  print(f'XLA temp, depth 2 -> 8: plain {plain[0] / 2**20:.2f} -> {plain[1] / 2**20:.2f} MiB, '
        f'remat_in_backward {remat[0] / 2**20:.2f} -> {remat[1] / 2**20:.2f} MiB')
  assert plain[1] - plain[0] >= 5 * hidden  # ~one hidden activation kept per extra branch
  assert remat[1] - remat[0] <= hidden // 2
  assert remat[1] < plain[1] / 2
