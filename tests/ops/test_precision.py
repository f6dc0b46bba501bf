"""Tests for ops/precision.py: fp32 params, bf16 compute, fp32 outputs, close to fp32."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.nn import LayerNorm, Linear
from alphafold_jax.ops.precision import cast_floating, mixed_precision


def _net(x, idx):
  h = jax.nn.relu(Linear(16, name='a')(LayerNorm(name='ln')(x)))
  return {'out': Linear(3, name='b')(h), 'idx': idx}


def test_bf16_compute_fp32_params_and_outputs():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((5, 7)), jnp.float32)
  idx = jnp.arange(5)
  t32 = hk.transform(_net)
  t16 = hk.transform(mixed_precision(_net))
  params16 = t16.init(jax.random.PRNGKey(0), x, idx)
  assert all(v.dtype == jnp.float32 for v in jax.tree_util.tree_leaves(params16))
  params = t32.init(jax.random.PRNGKey(0), x, idx)
  out32 = t32.apply(params, None, x, idx)
  out16 = t16.apply(params, None, x, idx)
  assert out16['out'].dtype == jnp.float32 and out16['idx'].dtype == idx.dtype
  err = float(jnp.max(jnp.abs(out16['out'] - out32['out'])))
  assert 0 < err < 5e-2 * float(jnp.max(jnp.abs(out32['out'])))  # bf16 rounding, not garbage
  grads = jax.grad(lambda p: jnp.sum(t16.apply(p, None, x, idx)['out']))(params)
  assert all(g.dtype == jnp.float32 and np.isfinite(g).all() for g in jax.tree_util.tree_leaves(grads))


def test_cast_floating_leaves_ints():
  tree = {'f': jnp.ones(2), 'i': jnp.ones(2, jnp.int32), 'b': jnp.ones(2, bool)}
  out = cast_floating(tree, jnp.bfloat16)
  assert out['f'].dtype == jnp.bfloat16 and out['i'].dtype == jnp.int32 and out['b'].dtype == bool
  assert mixed_precision(len, enabled=False) is len
