"""Chunked application ("subbatching") of a pure function over one batch axis (memory only).

AF2 runs attention, transitions and the outer product mean over slices of a batch axis at
inference so the [.., N, N, h] intermediates of one slice fit in memory (AF2 `mapping.py`).
Here the model maths stays in the modules: a module fetches its Haiku parameters first and
hands a *pure* function (closing over them) to `chunked_map`, which runs it slice by slice
with `lax.map`. Results equal the unchunked call up to float reassociation (none in practice).

How to chunk is a `ChunkPolicy`, chosen in ONE place (`ops.memory_policy.chunk_policy`, from
`GlobalConfig`), never at a call site:

  * `rows`: a fixed number of rows per chunk (AF2's `subbatch_size`, default 4);
  * `max_chunk_bytes`: rows chosen per call so that the largest intermediate of one chunk stays
    under a byte budget. The per-row size is read from the traced program of ONE row
    (`largest_intermediate_bytes`: the largest array any equation of `fn` makes, nested
    sub-programs included), so the same budget gives long chunks to cheap sub-layers, short
    ones to [H, N, N] attention logits, and adapts to N_seq and N_res without a table;
  * `remat`: each chunk runs under `jax.checkpoint`. Under `lax.map`, reverse-mode autodiff
    otherwise stacks every chunk's residuals (as much memory as no chunking at all); with the
    checkpoint, only each chunk's inputs are kept and the backward pass recomputes and
    differentiates one chunk at a time. Work outside the loop (a ragged last chunk, or the
    whole call when one chunk covers it) uses `ops.remat.remat_in_backward`.

`subbatch_size_for_length` is a plain length table a preset can use to fill `subbatch_size`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Sequence, Union

import jax
import jax.extend.core as jax_core
import jax.numpy as jnp
import numpy as np

from alphafold_jax.ops.remat import remat_in_backward

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


@dataclasses.dataclass(frozen=True)
class ChunkPolicy:
  """How `chunked_map` splits its batch axis (see the module docstring).

  rows: fixed rows per chunk; None (and no max_chunk_bytes) = one call, no chunking.
  max_chunk_bytes: rows per chunk from a budget on the largest per-chunk intermediate
    (takes precedence over rows).
  remat: checkpoint each chunk so the backward pass also runs chunk by chunk.
  """
  rows: Optional[int] = None
  max_chunk_bytes: Optional[int] = None
  remat: bool = False

  def __post_init__(self):
    for name in ('rows', 'max_chunk_bytes'):
      value = getattr(self, name)
      if value is not None and (not isinstance(value, (int, np.integer)) or value <= 0):
        raise ChunkingError(f'ChunkPolicy.{name} must be a positive int or None, got {value!r}')

  def rows_for(self, fn: Callable[..., Any], batched_args: Sequence[jnp.ndarray],
               shared_args: Sequence[Any], in_axis: int) -> Optional[int]:
    """Rows per chunk for this call (None = no chunking)."""
    if self.max_chunk_bytes is None:
      return None if self.rows is None else int(self.rows)
    per_row = largest_intermediate_bytes(fn, batched_args, shared_args, in_axis)
    return max(1, int(self.max_chunk_bytes // max(per_row, 1)))


def _aval_bytes(aval) -> int:
  shape = getattr(aval, 'shape', None)
  dtype = getattr(aval, 'dtype', None)
  if shape is None or dtype is None:
    return 0
  return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def _largest_in_jaxpr(jaxpr) -> int:
  largest = 0
  for eqn in jaxpr.eqns:
    for var in eqn.outvars:
      largest = max(largest, _aval_bytes(var.aval))
    for sub in jax_core.jaxprs_in_params(eqn.params):
      largest = max(largest, _largest_in_jaxpr(sub))
  return largest


def largest_intermediate_bytes(fn: Callable[..., Any], batched_args: Sequence[jnp.ndarray],
                               shared_args: Sequence[Any] = (), in_axis: int = 0) -> int:
  """Bytes of the largest array fn makes on ONE row of the batched arguments (trace only)."""
  def one_row(x):
    axis = in_axis % x.ndim
    return jax.ShapeDtypeStruct(x.shape[:axis] + (1,) + x.shape[axis + 1:], x.dtype)

  rows = [one_row(x) for x in batched_args]
  closed = jax.make_jaxpr(lambda *row: fn(*row, *shared_args))(*rows)
  return _largest_in_jaxpr(closed.jaxpr)


def chunked_map(fn: Callable[..., Any], policy: Union[ChunkPolicy, int, None],
                batched_args: Sequence[jnp.ndarray], shared_args: Sequence[Any] = (),
                in_axis: int = 0, out_axis: int = 0) -> Any:
  """fn(*batched_args, *shared_args) computed over slices along `in_axis`, as `policy` says.

  policy: a ChunkPolicy, or (shorthand) an int number of rows per chunk, or None (no chunking).
  fn must be pure (no Haiku calls) and map each slice of the batched arguments to outputs
  whose `out_axis` is the same slice. Every batched argument must have the same length on
  `in_axis`. Outputs may be any pytree of arrays.
  """
  if policy is None:
    return fn(*batched_args, *shared_args)
  if not isinstance(policy, ChunkPolicy):
    if not isinstance(policy, (int, np.integer)) or isinstance(policy, bool) or policy <= 0:
      raise ChunkingError(f'chunk size must be a positive int or None, got {policy!r}')
    policy = ChunkPolicy(rows=int(policy))
  lengths = {x.shape[in_axis] for x in batched_args}
  if len(lengths) != 1:
    raise ChunkingError(f'batched arguments disagree on axis {in_axis}: lengths {sorted(lengths)}')
  (n,) = lengths
  size = policy.rows_for(fn, batched_args, shared_args, in_axis)
  if size is None or size >= n:
    whole = remat_in_backward(fn) if policy.remat else fn
    return whole(*batched_args, *shared_args)

  num_full, remainder = divmod(n, size)
  moved = [jnp.moveaxis(x, in_axis, 0) for x in batched_args]  # [n, ...]

  def one_chunk(chunk_args):
    chunk_args = [jnp.moveaxis(x, 0, in_axis) for x in chunk_args]
    return fn(*chunk_args, *shared_args)

  # Inside lax.map the loop already keeps XLA from merging recomputation with the forward.
  body = jax.checkpoint(one_chunk, prevent_cse=False) if policy.remat else one_chunk
  full = [x[:num_full * size].reshape((num_full, size) + x.shape[1:])
          for x in moved]  # [k, size, ...]
  stacked = jax.lax.map(body, full)  # leaves: [k, *out with out_axis of length size]

  def merge(y):
    axis = out_axis if out_axis >= 0 else y.ndim - 1 + out_axis  # out_axis of one chunk's output
    y = jnp.moveaxis(y, axis + 1, 1)  # [k, size, ...]
    return y.reshape((num_full * size,) + y.shape[2:])  # [k * size, ...]

  outputs = jax.tree_util.tree_map(merge, stacked)
  if remainder:
    tail_fn = remat_in_backward(one_chunk) if policy.remat else one_chunk
    tail = tail_fn([x[num_full * size:] for x in moved])
    tail = jax.tree_util.tree_map(lambda y: jnp.moveaxis(y, out_axis, 0), tail)
    outputs = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b], axis=0), outputs, tail)
  return jax.tree_util.tree_map(lambda y: jnp.moveaxis(y, 0, out_axis), outputs)
