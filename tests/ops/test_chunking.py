"""Tests for ops/chunking.py: chunked == unchunked, axis handling, errors, the length table."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.config.global_config import GlobalConfig
from alphafold_jax.ops import chunking


def _fn(a, b, w):
  # a [..., n, 5] chunked on its batch axis; b shares the batch axis; w shared.
  return {'x': jnp.tanh(a @ w) * b[..., None], 'y': jnp.sum(a, axis=-1)}


@pytest.mark.parametrize('size', [1, 2, 3, 7, 11, None])
def test_chunked_equals_unchunked(size):
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.standard_normal((7, 3, 5)), jnp.float32)
  b = jnp.asarray(rng.standard_normal((7, 3)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((5, 13)), jnp.float32)
  full = _fn(a, b, w)
  out = chunking.chunked_map(_fn, size, [a, b], [w])
  for k in full:
    assert out[k].shape == full[k].shape
    np.testing.assert_allclose(out[k], full[k], atol=1e-6)


def test_in_and_out_axes():
  rng = np.random.default_rng(1)
  left = jnp.asarray(rng.standard_normal((3, 7, 5)), jnp.float32)  # [S, N, c], chunk N (axis 1)
  right = jnp.asarray(rng.standard_normal((3, 11, 5)), jnp.float32)
  fn = lambda l, r: jnp.einsum('sic,sjc->ij', l, r)  # output rows follow the chunked axis
  full = fn(left, right)
  for size in (2, 3, 5):
    out = chunking.chunked_map(fn, size, [left], [right], in_axis=1, out_axis=0)
    np.testing.assert_allclose(out, full, atol=1e-5)
  fn_t = lambda l, r: jnp.einsum('sic,sjc->ji', l, r)  # chunked axis lands last (out_axis=-1)
  out = chunking.chunked_map(fn_t, 3, [left], [right], in_axis=1, out_axis=-1)
  np.testing.assert_allclose(out, fn_t(left, right), atol=1e-5)


def test_gradients_match():
  rng = np.random.default_rng(2)
  a = jnp.asarray(rng.standard_normal((5, 4)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((4, 3)), jnp.float32)
  loss = lambda w, size: jnp.sum(chunking.chunked_map(lambda x, w: jnp.sin(x @ w), size, [a], [w]))
  np.testing.assert_allclose(jax.grad(loss)(w, 2), jax.grad(loss)(w, None), atol=1e-5)


def test_errors_and_config():
  a = jnp.ones((4, 2))
  with pytest.raises(chunking.ChunkingError, match='positive'):
    chunking.chunked_map(lambda x: x, 0, [a])
  with pytest.raises(chunking.ChunkingError, match='disagree'):
    chunking.chunked_map(lambda x, y: x, 2, [a, jnp.ones((3, 2))])
  gc = GlobalConfig(subbatch_size=4)
  assert chunking.chunk_size(gc, is_training=False) == 4
  assert chunking.chunk_size(gc, is_training=True) is None
  sizes = [chunking.subbatch_size_for_length(n) for n in (10, 256, 257, 1500, 5000)]
  assert sizes == [None, None, 64, 16, 4]
