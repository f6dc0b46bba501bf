"""Batches for training as a pure function of (seed, step) — the basis of exact resume.

    sampler = ExampleSampler(examples, batch_size=4, seed=0)
    batch = sampler(step)            # dict of NumPy arrays [B, ...]

Example order: an epoch-wise permutation of the examples drawn from
np.random.default_rng([seed, epoch]); global example slot g = step * B + b is example
perm_epoch[g % n] with epoch = g // n. So batch(step) never depends on what ran before,
a resumed run sees exactly the batches it would have seen, and every process of a
multi-host job builds the same global batch (sharding.shard_batch keeps its part).

`load_structures` reads a directory of PDB / mmCIF files (data_pipeline-free, NumPy only)
for presets; richer feature pipelines (MSA, crops) plug in as other `BatchFn`s, e.g. the
dataset helpers in data_pipeline/ once available.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Sequence, Tuple, Union

import numpy as np

from alphafold_jax.common import protein as protein_lib

Batch = Dict[str, np.ndarray]
BatchFn = Callable[[int], Batch]

STRUCTURE_SUFFIXES = ('.pdb', '.cif', '.mmcif', '.ent')


class DataError(ValueError):
  """Training data is missing or malformed."""


def stack_examples(examples: Sequence[Mapping[str, np.ndarray]]) -> Batch:
  """List of per-example dicts (same keys and shapes) -> batch dict [B, ...]."""
  if not examples:
    raise DataError('stack_examples: no examples')
  keys = set(examples[0])
  for i, ex in enumerate(examples):
    if set(ex) != keys:
      raise DataError(f'example {i} has keys {sorted(ex)}, expected {sorted(keys)}')
  out = {}
  for key in sorted(keys):
    shapes = {np.shape(ex[key]) for ex in examples}
    if len(shapes) != 1:
      raise DataError(f'feature {key!r} has different shapes across examples: {sorted(shapes)}; '
                      'pad or crop to a common size first')
    out[key] = np.stack([np.asarray(ex[key]) for ex in examples])
  return out


class ExampleSampler:
  """Deterministic batches from a fixed list of per-example feature dicts."""

  def __init__(self, examples: Sequence[Mapping[str, np.ndarray]], batch_size: int, seed: int = 0,
               shuffle: bool = True):
    if not examples:
      raise DataError('ExampleSampler: no examples')
    if batch_size < 1:
      raise DataError(f'ExampleSampler: batch_size must be >= 1, got {batch_size}')
    stack_examples(examples)  # fails early on inconsistent keys / shapes
    self.examples = list(examples)
    self.batch_size = int(batch_size)
    self.seed = int(seed)
    self.shuffle = shuffle

  def indices(self, step: int) -> List[int]:
    n = len(self.examples)
    out = []
    for g in range(step * self.batch_size, (step + 1) * self.batch_size):
      epoch, pos = divmod(g, n)
      perm = (np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle
              else np.arange(n))
      out.append(int(perm[pos]))
    return out

  def __call__(self, step: int) -> Batch:
    if step < 0:
      raise DataError(f'step must be >= 0, got {step}')
    return stack_examples([self.examples[i] for i in self.indices(step)])


def as_batch_fn(batches: Union[BatchFn, Iterable[Batch]]) -> Callable[[int], Iterator[Batch]]:
  """Normalises a batch source to `start_step -> iterator of batches from that step`.

  A callable is treated as step -> batch (exactly resumable). A plain iterable is
  fast-forwarded by `start_step` items on resume (exact only if it is deterministic).
  """
  if callable(batches) and not hasattr(batches, '__iter__'):
    def from_fn(start: int) -> Iterator[Batch]:
      step = start
      while True:
        yield batches(step)
        step += 1
    return from_fn

  def from_iterable(start: int) -> Iterator[Batch]:
    it = iter(batches)
    for _ in range(start):
      next(it)
    return it
  return from_iterable


def list_structure_files(data_dir: str | os.PathLike) -> List[str]:
  """Sorted structure files (PDB / mmCIF) in a directory."""
  data_dir = os.fspath(data_dir)
  if not os.path.isdir(data_dir):
    raise DataError(f'data directory not found: {data_dir}')
  files = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir)
                 if f.lower().endswith(STRUCTURE_SUFFIXES))
  if not files:
    raise DataError(f'no structure files ({", ".join(STRUCTURE_SUFFIXES)}) in {data_dir}')
  return files


def load_structures(data_dir: str | os.PathLike) -> List[Tuple[str, protein_lib.Protein]]:
  """[(name, Protein)] for every structure file in `data_dir` (first chain of each)."""
  out = []
  for path in list_structure_files(data_dir):
    name = os.path.splitext(os.path.basename(path))[0]
    try:
      out.append((name, protein_lib.from_file(path)))
    except Exception as e:  # pylint: disable=broad-except
      raise DataError(f'cannot read structure {path}: {e}') from e
  return out


def pad_residues(features: Mapping[str, np.ndarray], num_res: int) -> Batch:
  """Crops (from residue 0) or zero-pads every feature's leading residue axis to num_res."""
  out = {}
  for key, value in features.items():
    value = np.asarray(value)
    if value.ndim == 0:
      raise DataError(f'pad_residues: feature {key!r} has no residue axis')
    value = value[:num_res]
    pad = [(0, num_res - value.shape[0])] + [(0, 0)] * (value.ndim - 1)
    out[key] = np.pad(value, pad)
  return out
