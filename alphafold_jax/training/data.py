"""Batches for training as a pure function of (seed, step) — the basis of exact resume.

    sampler = ExampleSampler(examples, batch_size=4, seed=0)
    batch = sampler(step)            # dict of NumPy arrays [B, ...]

Example order: an epoch-wise permutation of the examples drawn from
np.random.default_rng([seed, epoch]); global example slot g = step * B + b is example
perm_epoch[g % n] with epoch = g // n. So batch(step) never depends on what ran before,
a resumed run sees exactly the batches it would have seen, and every process of a
multi-host job builds the same global batch (sharding.shard_batch keeps its part).

`load_structures` reads a directory of PDB / mmCIF files (.gz too, as `score` reads them) and
validates every one up front: an unreadable or corrupt file, one with non-finite or far-off
coordinates, fewer than MIN_CA_RESIDUES residues with a CA atom, or a duplicate name is
skipped and counted (`on_skip(path, reason)`), so training never fails late on a bad entry;
no usable structure at all is a DataError naming the directory.
`DatasetSampler` wraps a data_pipeline.examples.ExampleSet (the presets' `make_examples`, or
data_pipeline.dataset.StructureDataset: MSAs on disk), building every example afresh (crop,
MSA processing) with the same step-keyed order, or AF2's weighted order with a distillation
source mixed in. Samplers with `host_batch(step, rows)` feed training/loader.py (worker
processes, prefetch, per-host slots).
"""

from __future__ import annotations

import os
from typing import (Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import numpy as np

from alphafold_jax.common.errors import UserError, one_line
from alphafold_jax.common import protein as protein_lib

Batch = Dict[str, np.ndarray]
BatchFn = Callable[[int], Batch]

STRUCTURE_SUFFIXES = ('.pdb', '.cif', '.mmcif', '.ent')
MIN_CA_RESIDUES = 3  # superposition / evaluation need at least 3 resolved CA atoms
_CA = 1  # atom37 index of CA


class DataError(UserError):
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
    return [i for _, i in slot_order(step, self.batch_size, len(self.examples), self.seed,
                                     self.shuffle)]

  def host_batch(self, step: int, rows: Optional[Tuple[int, int]] = None) -> Batch:
    """The global slots [start, stop) of `step` (all of them when rows is None)."""
    if step < 0:
      raise DataError(f'step must be >= 0, got {step}')
    indices = self.indices(step)
    start, stop = rows if rows is not None else (0, len(indices))
    return stack_examples([self.examples[i] for i in indices[start:stop]])

  def __call__(self, step: int) -> Batch:
    return self.host_batch(step)


def slot_order(step: int, batch_size: int, n: int, seed: int, shuffle: bool = True
               ) -> List[Tuple[int, int]]:
  """[(epoch, example index)] of the B global slots of `step` (epoch-wise permutations)."""
  out = []
  for g in range(step * batch_size, (step + 1) * batch_size):
    epoch, pos = divmod(g, n)
    perm = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    out.append((epoch, int(perm[pos])))
  return out


class DatasetSampler:
  """step -> batch over data_pipeline.dataset.StructureDataset (AF2 features + labels).

  Slot order, two modes:
    * uniform (weights None, no distillation): slot g of step s is entry perm_epoch[g % n]
      of epoch g // n (`slot_order`), built by `dataset.example(index, epoch)` (its crop / MSA
      sampling seeded by (seed, epoch, index));
    * weighted (AF2, Suppl. 1.2.5 / 1.3): slot g draws its source (the PDB `dataset`, or the
      `distillation` dataset with probability `distillation_fraction`) and a chain of it with
      that source's probabilities (`weights`, `distillation_weights`; None = uniform) from
      (seed, g) alone (data_pipeline.chain_sampling.draw_slot), built by
      `example(index, epoch=g)`. A distillation example differs in its labels (low-pLDDT
      residues masked, resolution 0: the confidence losses skip it) and in AF2's
      `is_distillation` feature (1.0; processed features carry it as 0.0), so the train step
      is the same program with or without the mix (`slots` / `data_metrics` tell which slots
      are distillation, also for structure-only examples).
  Either way a batch is a pure function of the step (exact resume), and `host_batch(step,
  rows)` builds only the slots [start, stop) of the global batch that one host feeds
  (per-host sharding: each process featurises its part). Residues are padded to a FIXED
  `num_res` (default: the dataset's num_res, else its crop size) so every step has the same
  shapes and the train step compiles once.
  """

  def __init__(self, dataset, batch_size: int, num_res: Optional[int] = None,
               shuffle: bool = True, weights: Optional[np.ndarray] = None,
               distillation=None, distillation_fraction: float = 0.0,
               distillation_weights: Optional[np.ndarray] = None):
    from data_pipeline import chain_sampling  # pylint: disable=import-outside-toplevel
    self.datasets = [dataset] + ([distillation] if distillation is not None else [])
    for ds in self.datasets:
      if len(ds) == 0:
        raise DataError(f'dataset {getattr(ds, "directory", "")} has no entries')
    self.dataset = dataset
    self.batch_size = int(batch_size)
    self.num_res = num_res if num_res is not None else (dataset.config.num_res
                                                        or dataset.config.crop_size)
    if self.num_res is None:
      raise DataError('DatasetSampler needs num_res when the dataset does not crop')
    self.shuffle = shuffle
    self.failed: Dict[str, str] = {}  # entry name -> why building it failed during training
    self.mixed = distillation is not None
    self.sources = None  # weighted mode: chain_sampling.WeightedSource per dataset
    if weights is not None or self.mixed:
      fraction = float(distillation_fraction) if self.mixed else 0.0
      probs = [p if p is not None else np.full(len(ds), 1. / len(ds))
               for p, ds in zip((weights, distillation_weights), self.datasets)]
      self.sources = [chain_sampling.WeightedSource(probs[0], 1. - fraction)]
      if self.mixed:
        self.sources.append(chain_sampling.WeightedSource(probs[1], fraction))

  @property
  def num_skipped(self) -> int:
    """Entries skipped so far: dropped up front (dataset.skipped) + failed while training."""
    return (sum(len(getattr(ds, 'skipped', ()) or ()) for ds in self.datasets)
            + len(self.failed))

  def slots(self, step: int) -> List[Tuple[int, int, int]]:
    """[(source, entry index, epoch)] of the batch_size global slots of `step` (source 0: the
    dataset, 1: distillation; `epoch` seeds the example: dataset.example(index, epoch))."""
    if step < 0:
      raise DataError(f'step must be >= 0, got {step}')
    if self.sources is None:
      return [(0, index, epoch) for epoch, index in
              slot_order(step, self.batch_size, len(self.dataset), self.dataset.seed, self.shuffle)]
    from data_pipeline import chain_sampling  # pylint: disable=import-outside-toplevel
    return [(*chain_sampling.draw_slot(self.dataset.seed, g, self.sources), g)
            for g in range(step * self.batch_size, (step + 1) * self.batch_size)]

  def data_metrics(self, step: int) -> Dict[str, float]:
    """Counts logged with the step: skipped bad entries, chains AF2's filters dropped and (with
    distillation) the distillation examples of this step's global batch."""
    out = {'skipped_examples': float(self.num_skipped)}
    filtered = sum(len(getattr(ds, 'filtered', ()) or ()) for ds in self.datasets)
    if filtered:
      out['filtered_chains'] = float(filtered)
    if self.mixed:
      out['distillation_examples'] = float(sum(s == 1 for s, _, _ in self.slots(step)))
    return out

  def _example(self, source: int, index: int, epoch: int):
    """The example of slot (source, index, epoch); an entry that fails to build (a file
    changed or broke since it was validated) is skipped when the dataset's config says
    skip_bad: the next entries in index order stand in (deterministic), and it is counted in
    `failed`. Returns (example, [(name, reason)] of the entries that failed here)."""
    dataset = self.datasets[source]
    skip_bad = getattr(getattr(dataset, 'config', None), 'skip_bad', False)
    n, failures = len(dataset), []
    for offset in range(n):
      candidate = (index + offset) % n
      try:
        example = dataset.example(candidate, epoch)
      except Exception as e:  # pylint: disable=broad-except
        if not skip_bad:
          raise
        failures.append((('distillation/' if source else '') + dataset.names[candidate],
                         ' '.join(str(e).split())))
        continue
      if source == 1 and 'is_distillation' in example:
        example['is_distillation'] = np.ones_like(example['is_distillation'])
      return example, failures
    raise DataError(f'every entry of {getattr(dataset, "directory", "the dataset")} failed')

  def record_failures(self, failures: Sequence[Tuple[str, str]]) -> None:
    """Counts entries that failed while building batches (here or in a loader worker)."""
    for name, reason in failures:
      if name not in self.failed:
        self.failed[name] = reason
        _warn_skip(name, reason)

  def build_host_batch(self, step: int, rows: Optional[Tuple[int, int]] = None
                       ) -> Tuple[Batch, List[Tuple[str, str]]]:
    """(batch of the global slots [start, stop) of `step`, entries that failed meanwhile);
    pure: records nothing (loader workers call it and hand the failures back)."""
    from data_pipeline import transforms  # pylint: disable=import-outside-toplevel
    slots = self.slots(step)
    start, stop = rows if rows is not None else (0, len(slots))
    examples, failures = [], []
    for source, index, epoch in slots[start:stop]:
      example, failed = self._example(source, index, epoch)
      examples.append(example)
      failures.extend(failed)
    batch = transforms.batch_examples(examples, num_res=self.num_res,
                                      ensemble_keys=self.dataset.ensemble_keys)
    return batch, failures

  def host_batch(self, step: int, rows: Optional[Tuple[int, int]] = None) -> Batch:
    """The global slots [start, stop) of `step` (all of them when rows is None)."""
    batch, failures = self.build_host_batch(step, rows)
    self.record_failures(failures)
    return batch

  def __call__(self, step: int) -> Batch:
    return self.host_batch(step)


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


def structure_name(filename: str) -> Optional[str]:
  """'1CRN.pdb' -> '1CRN', '1crn.cif.gz' -> '1crn'; None for other files."""
  lower = filename.lower()
  base = filename[:-3] if lower.endswith('.gz') else filename
  stem, ext = os.path.splitext(base)
  return stem if ext.lower() in STRUCTURE_SUFFIXES and stem else None


def list_structure_files(data_dir: str | os.PathLike) -> List[str]:
  """Sorted structure files (PDB / mmCIF, optionally .gz) in a directory."""
  data_dir = os.fspath(data_dir)
  if not os.path.isdir(data_dir):
    raise DataError(f'data directory not found: {data_dir}')
  try:
    names = os.listdir(data_dir)
  except OSError as e:
    raise DataError(f'cannot list data directory {data_dir}: {e.strerror or e}') from None
  files = sorted(os.path.join(data_dir, f) for f in names if structure_name(f) is not None)
  if not files:
    raise DataError(f'no structure files ({", ".join(STRUCTURE_SUFFIXES)}, optionally .gz) in '
                    f'{data_dir}')
  return files


def check_training_structure(prot: protein_lib.Protein) -> Optional[str]:
  """Why `prot` cannot be a training example, or None when it can."""
  num_ca = int(np.sum(np.asarray(prot.atom_mask)[:, _CA] > 0))
  if num_ca < MIN_CA_RESIDUES:
    return (f'{num_ca} residue(s) with a CA atom, need at least {MIN_CA_RESIDUES}'
            if num_ca else 'no CA atoms')
  return None


def _warn_skip(path: str, reason: str) -> None:
  import logging  # pylint: disable=import-outside-toplevel
  logging.getLogger(__name__).warning('skipping %s: %s', path, reason)


def load_structures(data_dir: str | os.PathLike,
                    on_skip: Optional[Callable[[str, str], None]] = None
                    ) -> List[Tuple[str, protein_lib.Protein]]:
  """[(name, Protein)] for every usable structure file in `data_dir` (first chain of each).

  Bad files are skipped, each reported once as `on_skip(path, reason)` (default: a logged
  warning); DataError when none is usable.
  """
  on_skip = _warn_skip if on_skip is None else on_skip
  out, seen, skipped = [], {}, 0
  for path in list_structure_files(data_dir):
    name = structure_name(os.path.basename(path))
    reason = None
    if name.lower() in seen:
      reason = f'same name as {os.path.basename(seen[name.lower()])}'
    else:
      try:
        prot = protein_lib.from_file(path)
      except UserError as e:
        reason = one_line(e).replace(f'{path}: ', '').replace(f'{path} ', '')
      except Exception as e:  # pylint: disable=broad-except  (any unreadable file is skipped)
        reason = f'{type(e).__name__}: {one_line(e)}'
      else:
        reason = check_training_structure(prot)
    if reason is not None:
      skipped += 1
      on_skip(path, reason)
      continue
    seen[name.lower()] = path
    out.append((name, prot))
  if not out:
    raise DataError(f'no usable structure in {os.fspath(data_dir)}: all {skipped} file(s) were '
                    'skipped (see the warnings above)')
  return out

