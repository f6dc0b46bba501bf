"""Tests for ops/chunking.py: chunked == unchunked, axis handling, errors, the length table."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def test_errors_and_length_table():
  a = jnp.ones((4, 2))
  with pytest.raises(chunking.ChunkingError, match='positive'):
    chunking.chunked_map(lambda x: x, 0, [a])
  with pytest.raises(chunking.ChunkingError, match='positive'):
    chunking.ChunkPolicy(max_chunk_bytes=-3)
  with pytest.raises(chunking.ChunkingError, match='disagree'):
    chunking.chunked_map(lambda x, y: x, 2, [a, jnp.ones((3, 2))])
  sizes = [chunking.subbatch_size_for_length(n) for n in (10, 256, 257, 1500, 5000)]
  assert sizes == [None, None, 64, 16, 4]


def _attention_like(q, k):
  # q [B, Q, c], k [B, K, c] -> logits [B, Q, K] (the largest intermediate), output [B, Q, c]
  logits = jnp.einsum('bqc,bkc->bqk', q, k)
  return jnp.einsum('bqk,bkc->bqc', jax.nn.softmax(logits, axis=-1), k)


def test_budget_policy_rows_from_largest_intermediate():
  """max_chunk_bytes picks rows = budget // (bytes of one row's largest intermediate)."""
  b, q, k, c = 13, 7, 11, 3
  rng = np.random.default_rng(3)
  qs = jnp.asarray(rng.standard_normal((b, q, c)), jnp.float32)
  ks = jnp.asarray(rng.standard_normal((b, k, c)), jnp.float32)
  per_row = chunking.largest_intermediate_bytes(_attention_like, [qs, ks])
  assert per_row == q * k * 4  # one row's [1, Q, K] float32 logits
  for budget_rows, expected in ((1, 1), (5, 5), (5.5, 5), (20, 20)):  # 20 >= b: one call
    policy = chunking.ChunkPolicy(max_chunk_bytes=int(budget_rows * per_row))
    assert policy.rows_for(_attention_like, [qs, ks], (), 0) == expected
    out = chunking.chunked_map(_attention_like, policy, [qs, ks])
    np.testing.assert_allclose(out, _attention_like(qs, ks), atol=1e-6)
  # The budget beats the fixed row count; a tiny budget still makes progress (1 row).
  assert chunking.ChunkPolicy(rows=4, max_chunk_bytes=2 * per_row).rows_for(
      _attention_like, [qs, ks], (), 0) == 2
  assert chunking.ChunkPolicy(max_chunk_bytes=1).rows_for(_attention_like, [qs, ks], (), 0) == 1
  # in_axis: rows counted along the chunked axis (here axis 1 of [Q, B, c]-shaped inputs).
  per_row_t = chunking.largest_intermediate_bytes(
      lambda x, y: _attention_like(jnp.swapaxes(x, 0, 1), jnp.swapaxes(y, 0, 1)),
      [jnp.swapaxes(qs, 0, 1), jnp.swapaxes(ks, 0, 1)], in_axis=1)
  assert per_row_t == per_row


@pytest.mark.parametrize('size', [2, 4, 13])
def test_remat_chunks_equal_values_and_grads(size):
  """remat=True (checkpointed chunks, ragged tail, or one checkpointed call) == plain."""
  rng = np.random.default_rng(4)
  a = jnp.asarray(rng.standard_normal((13, 3, 5)), jnp.float32)
  b = jnp.asarray(rng.standard_normal((13, 3)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((5, 7)), jnp.float32)

  def loss(w, a, policy):
    out = chunking.chunked_map(lambda x, y, w: _fn(x, y, w), policy, [a, b], [w])
    return jnp.sum(jnp.sin(out['x'])) + jnp.sum(out['y'] ** 2)

  ref_v, ref_g = jax.value_and_grad(loss, argnums=(0, 1))(w, a, None)
  v, g = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)), static_argnums=2)(
      w, a, chunking.ChunkPolicy(rows=size, remat=True))
  np.testing.assert_allclose(v, ref_v, rtol=1e-6)
  for x, y in zip(g, ref_g):
    np.testing.assert_allclose(x, y, atol=1e-5)
