"""Chunked application ("subbatching") of a pure function over one batch axis (memory only).

AF2 runs attention, transitions and the outer product mean over slices of a batch axis at
inference so the [.., N, N, h] intermediates of one slice fit in memory (AF2 `mapping.py`).
Here the model maths stays in the modules: a module fetches its Haiku parameters first and
hands a *pure* function (closing over them) to `chunked_map`, which runs it slice by slice
with `lax.map`. Results equal the unchunked call up to float reassociation (none in practice).

The chunk size comes from ONE place: `chunk_size(global_config, is_training)` reads
`GlobalConfig.subbatch_size` (AF2 default 4; None = off), and `subbatch_size_for_length`
is the length table an inference preset can use to fill that field.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp

# (max N_res, subbatch size) rows, checked in order: longer inputs get smaller chunks.
# The last row (None) covers every longer input.
SUBBATCH_SIZE_BY_LENGTH = ((256, None), (1024, 64), (2048, 16), (None, 4))


class ChunkingError(ValueError):
  """Raised for an invalid chunk size or inconsistent batch axes."""


def subbatch_size_for_length(num_res: int) -> Optional[int]:
  """Subbatch size for an input of `num_res` residues from `SUBBATCH_SIZE_BY_LENGTH`."""
  for max_len, size in SUBBATCH_SIZE_BY_LENGTH:
    if max_len is None or num_res <= max_len:
      return size
  raise AssertionError('unreachable: the table ends with a catch-all row')


def chunk_size(global_config, is_training: bool) -> Optional[int]:
  """Chunk size for inference-time subbatching, None when not chunking (AF2: never in training)."""
  if is_training:
    return None
  return global_config.subbatch_size


def chunked_map(fn: Callable[..., Any], size: Optional[int], batched_args: Sequence[jnp.ndarray],
                shared_args: Sequence[Any] = (), in_axis: int = 0, out_axis: int = 0) -> Any:
  """fn(*batched_args, *shared_args) computed over slices of `size` along `in_axis`.

  fn must be pure (no Haiku calls) and map each slice of the batched arguments to outputs
  whose `out_axis` is the same slice. Every batched argument must have the same length on
  `in_axis`. Outputs may be any pytree of arrays.
  """
  if size is None:
    return fn(*batched_args, *shared_args)
  if not isinstance(size, int) or size <= 0:
    raise ChunkingError(f'chunk size must be a positive int or None, got {size!r}')
  lengths = {x.shape[in_axis] for x in batched_args}
  if len(lengths) != 1:
    raise ChunkingError(f'batched arguments disagree on axis {in_axis}: lengths {sorted(lengths)}')
  (n,) = lengths
  if size >= n:
    return fn(*batched_args, *shared_args)

  num_full, remainder = divmod(n, size)
  moved = [jnp.moveaxis(x, in_axis, 0) for x in batched_args]  # [n, ...]

  def one_chunk(chunk_args):
    chunk_args = [jnp.moveaxis(x, 0, in_axis) for x in chunk_args]
    return fn(*chunk_args, *shared_args)

  full = [x[:num_full * size].reshape((num_full, size) + x.shape[1:]) for x in moved]  # [k, size, ...]
  stacked = jax.lax.map(one_chunk, full)  # leaves: [k, *out with out_axis of length size]

  def merge(y):
    axis = out_axis if out_axis >= 0 else y.ndim - 1 + out_axis  # out_axis of one chunk's output
    y = jnp.moveaxis(y, axis + 1, 1)  # [k, size, ...]
    return y.reshape((num_full * size,) + y.shape[2:])  # [k * size, ...]

  outputs = jax.tree_util.tree_map(merge, stacked)
  if remainder:
    tail = one_chunk([x[num_full * size:] for x in moved])
    tail = jax.tree_util.tree_map(lambda y: jnp.moveaxis(y, out_axis, 0), tail)
    outputs = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b], axis=0), outputs, tail)
  return jax.tree_util.tree_map(lambda y: jnp.moveaxis(y, 0, out_axis), outputs)
