"""Row-chunked, in-place updates of an [N_a, N_b, c] activation (memory only, no model maths).

The long-sequence inference policy (ops/memory_policy.py `long_sequence_inference`) updates the
pair representation a block of rows at a time: the rows are read (`lax.dynamic_slice`), their
residual update computed by a pure or Haiku function of those rows, and written back into the
same buffer (`lax.dynamic_update_slice` inside a `hk.fori_loop`), so no second [N, N, c] copy
of the pair exists during an update (XLA updates a loop-carried buffer in place). Column-wise
sub-layers (incoming triangle multiplication, ending-node attention) pass `axis=1`: they see
rows of the transposed pair, read and written as column blocks of the untransposed one.

Context that a row needs from every row (the right projection of the triangle multiplication,
the [H, N, N] attention biases) is built first, also chunk by chunk, into ONE buffer
(`build_from_rows`); nothing of size [N, N, c] is made whole.

`row_update(x, start)` receives x = rows [n, N_b, c] (row axis first, in `compute_dtype`) and
the traced index of the first row; it returns the update of those rows, same shape.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import haiku as hk
import jax
import jax.numpy as jnp


def take_rows(x: jnp.ndarray, start, size: int, axis: int = 0) -> jnp.ndarray:
  """x's rows [start, start + size) along axis, moved to axis 0."""
  return jnp.moveaxis(jax.lax.dynamic_slice_in_dim(x, start, size, axis), axis, 0)


def _chunks(n: int, rows: int):
  rows = max(1, min(int(rows), n))
  num_full, remainder = divmod(n, rows)
  return rows, num_full, remainder


def update_rows_inplace(act: jnp.ndarray, row_update: Callable[[jnp.ndarray, Any], jnp.ndarray],
                        rows: int, axis: int = 0,
                        compute_dtype: Optional[Any] = None) -> jnp.ndarray:
  """act with act[r] += row_update(act[r], start) for blocks r of `rows` rows along `axis`.

  act [N_a, N_b, c] (axis 0) or its transpose's rows (axis 1); the sum is taken in
  compute_dtype (default act.dtype) and stored back in act.dtype (bf16 pair storage).
  """
  compute_dtype = act.dtype if compute_dtype is None else compute_dtype
  rows, num_full, remainder = _chunks(act.shape[axis], rows)

  def apply(buf, start, size):
    x = take_rows(buf, start, size, axis).astype(compute_dtype)  # [size, N_b, c]
    new = (x + row_update(x, start)).astype(buf.dtype)
    return jax.lax.dynamic_update_slice_in_dim(buf, jnp.moveaxis(new, 0, axis), start, axis)

  if num_full:
    act = hk.fori_loop(0, num_full, lambda i, buf: apply(buf, i * rows, rows), act)
  if remainder:
    act = apply(act, num_full * rows, remainder)
  return act


def build_from_rows(act: jnp.ndarray, fn: Callable[[jnp.ndarray, Any], jnp.ndarray], rows: int,
                    axis: int = 0, out_axis: int = 0, compute_dtype: Optional[Any] = None,
                    out_dtype: Optional[Any] = None) -> jnp.ndarray:
  """One buffer holding fn(rows of act, start) for every row block, rows along `out_axis`.

  fn maps x [n, N_b, c] (rows of act along `axis`, in compute_dtype) to an array whose
  `out_axis` has length n (e.g. a projection [h, n, N_b] with out_axis 1).
  """
  compute_dtype = act.dtype if compute_dtype is None else compute_dtype
  n = act.shape[axis]
  rows, num_full, remainder = _chunks(n, rows)

  def chunk(start, size):
    return fn(take_rows(act, start, size, axis).astype(compute_dtype), start)

  first = chunk(0, rows)  # also gives the buffer's shape (no eval_shape: fn may call Haiku)
  shape = list(first.shape)
  shape[out_axis] = n
  out_dtype = first.dtype if out_dtype is None else out_dtype
  buf = jax.lax.dynamic_update_slice_in_dim(jnp.zeros(shape, out_dtype), first.astype(out_dtype),
                                            0, out_axis)

  def write(b, start, size):
    return jax.lax.dynamic_update_slice_in_dim(b, chunk(start, size).astype(out_dtype), start,
                                               out_axis)

  if num_full > 1:
    buf = hk.fori_loop(1, num_full, lambda i, b: write(b, i * rows, rows), buf)
  if remainder:
    buf = write(buf, num_full * rows, remainder)
  return buf
