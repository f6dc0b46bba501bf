"""Input pipeline that keeps the devices busy: featurisation in worker processes + prefetch.

    loader = Loader(sampler, num_workers=2, prefetch_depth=2, rows=(0, 4))
    for batch in loader.iterate(start_step): ...   # this host's rows of each global batch
    loader.close()
    feed = Feed(batches, mesh, config, start_step)  # what the trainer reads: placed batches

`sampler` is step-keyed and host-aware (training/data.py: DatasetSampler, ExampleSampler):
`host_batch(step, rows)` builds the global slots [start, stop) of step `step`. Workers run the
same function, so the batches are the in-process batches bit for bit, in step order, from any
start step (exact resume), and each host featurises only its own rows (per-host sharding;
rows from sharding.process_rows).

Workers: grain's MapDataset over steps, `mp_prefetch` with `num_workers` spawned processes,
each `prefetch_depth` batches ahead (grain 0.2.18; setup.py). Worker i builds steps
start + i, start + i + n, ...; grain interleaves them back in order. Entries that fail to
build in a worker come back with the batch and are counted in the parent's sampler
(`record_failures`). num_workers=0: built in the training process when asked (no prefetch).
Why grain: Google's loader for JAX, deterministic by construction (a dataset is a function of
the index; per-worker slices interleaved in order), spawn-safe next to an initialised JAX
runtime, shared-memory transport of NumPy batches, iterators closed explicitly.
Two workarounds: grain reads an absl flag that is unparsed outside absl.app (the flags are
marked parsed with their defaults, `_absl_flags_parsed`), and its batches arrive as views of
shared memory (copied out at once, so the blocks are released while the worker reuses them).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

Batch = Dict[str, np.ndarray]
_LAST_STEP = 1 << 40  # the steps dataset is "endless"; the trainer stops at num_steps


class LoaderError(ValueError):
  """The loader cannot serve this batch source with these settings."""


class _HostBatch:
  """step -> (this host's batch, failures): the function every worker runs (picklable)."""

  def __init__(self, sampler: Any, rows: Optional[Tuple[int, int]]):
    self.sampler, self.rows = sampler, rows

  def __call__(self, step: int):
    return self.sampler.build_host_batch(int(step), self.rows)


def _absl_flags_parsed() -> None:
  from absl import flags  # pylint: disable=import-outside-toplevel
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


class Loader:
  """This host's batches of a step-keyed sampler, from worker processes (module docstring)."""

  def __init__(self, sampler: Any, num_workers: int = 0, prefetch_depth: int = 2,
               rows: Optional[Tuple[int, int]] = None):
    if num_workers < 0 or prefetch_depth < 1:
      raise LoaderError(f'num_workers must be >= 0 and prefetch_depth >= 1, got {num_workers}, '
                        f'{prefetch_depth}')
    if num_workers and not hasattr(sampler, 'build_host_batch'):
      raise LoaderError(f'{type(sampler).__name__} cannot be featurised in worker processes '
                        '(no build_host_batch); use loader_workers=0')
    self.sampler = sampler
    self.num_workers = int(num_workers)
    self.prefetch_depth = int(prefetch_depth)
    self.rows = rows
    self._open: List[Any] = []

  def iterate(self, start: int = 0) -> Iterator[Batch]:
    """This host's batches of steps start, start + 1, ... (close() stops it)."""
    batches = self._batches(start)
    self._open.append(batches)
    return batches

  def _batches(self, start: int) -> Iterator[Batch]:
    if self.num_workers == 0:
      step = start
      while True:
        yield self.sampler.host_batch(step, self.rows)
        step += 1
    import grain  # pylint: disable=import-outside-toplevel
    _absl_flags_parsed()
    steps = grain.MapDataset.range(start, _LAST_STEP).map(_HostBatch(self.sampler, self.rows))
    dataset = steps.to_iter_dataset().mp_prefetch(grain.MultiprocessingOptions(
        num_workers=self.num_workers, per_worker_buffer_size=self.prefetch_depth))
    iterator = iter(dataset)
    try:
      while True:
        batch, failures = next(iterator)
        batch = {k: np.array(v) for k, v in batch.items()}  # out of grain's shared memory
        if failures and hasattr(self.sampler, 'record_failures'):
          self.sampler.record_failures(failures)
        yield batch
    finally:
      iterator.close()  # stops the workers, frees their shared memory

  def close(self) -> None:
    """Stops every iteration (and so every worker) this loader started."""
    while self._open:
      self._open.pop().close()

  def __enter__(self) -> 'Loader':
    return self

  def __exit__(self, *exc) -> None:
    self.close()


class Feed:
  """The trainer's batches from step `start`, placed on the mesh (module docstring).

  A host-aware sampler (`host_batch`) goes through a Loader with config.loader_workers /
  config.prefetch_depth, each process building only its rows (sharding.process_rows) and
  placing them with sharding.shard_host_batch; any other source (data.as_batch_fn: a
  step -> batch callable or an iterable) gives the GLOBAL batch, placed with shard_batch.
  """

  def __init__(self, batches: Any, mesh: Any, config: Any, start: int):
    from alphafold_jax.training import data as data_lib  # pylint: disable=import-outside-toplevel
    from alphafold_jax.training import sharding  # pylint: disable=import-outside-toplevel
    self._batches = batches
    if hasattr(batches, 'host_batch'):
      rows = sharding.process_rows(mesh, config.batch_size, config.data_axis)
      self.loader = Loader(batches, config.loader_workers, config.prefetch_depth, rows)
      self._iter = self.loader.iterate(start)
      self._place = lambda b: sharding.shard_host_batch(b, mesh, config.batch_size,
                                                        config.data_axis)
    else:
      if config.loader_workers:
        raise LoaderError(f'loader_workers={config.loader_workers} needs a step-keyed sampler '
                          f'with host_batch (training/data.py), not {type(batches).__name__}')
      self.loader = None
      self._iter = data_lib.as_batch_fn(batches)(start)
      self._place = lambda b: sharding.shard_batch(b, mesh, config.data_axis)

  def __iter__(self) -> 'Feed':
    return self

  def __next__(self) -> dict:
    return self._place(next(self._iter))

  def data_metrics(self, step: int) -> Dict[str, float]:
    if hasattr(self._batches, 'data_metrics'):
      return self._batches.data_metrics(step)
    return {}

  def close(self) -> None:
    if self.loader is not None:
      self.loader.close()
    close = getattr(self._iter, 'close', None)
    if close is not None:
      close()
