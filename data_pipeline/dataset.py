"""Training examples from a directory of PDB / mmCIF files (+ optional MSAs).

Directory layout (an entry = one structure file; its name is the file stem):

  data/1CRN.pdb             structure (.pdb, .ent, .cif, .mmcif, optionally .gz)
  data/1CRN.a3m             optional MSAs with the same stem (.a3m, .sto) ...
  data/1CRN/*.a3m|*.sto     ... and/or in a folder named like the stem

Each example is built as AF2 training does (Suppl. 1.2): the chain's atom37
structure gives the labels (`data_pipeline.labels`), its sequence and MSAs give
raw features (`data_pipeline.make_raw_features`; no MSA -> the single-sequence,
one-row MSA), labels and raw features are cropped with ONE contiguous window
(`transforms`), the raw features are processed into AF2 model features
(`data_pipeline.process_features`: MSA clusters, BERT mask, extra MSA, msa_feat)
padded to the residue bucket, and the labels are padded to the same length.

DISCREPANCY: AF2 crops after MSA processing (`random_crop_to_size` follows
`make_msa_feat` in its ensembled transforms), so its nearest-neighbour cluster
assignment compares whole rows; here the crop comes first, so assignment uses
the cropped columns only. Per-column quantities (profiles, deletions, BERT
masking probabilities) are unaffected, and processing the crop is cheaper.

The yielded example is one flat dict: the processed features (per example; the
ensemble axis is squeezed when it has size 1, see `DatasetConfig`) plus every
label of `labels.make_structure_labels`. Keys present in both (aatype,
atom14/atom37 maps, seq_mask) hold equal values. Everything is deterministic
given (seed, epoch, entry index): the same seed gives the same examples.

Unreadable entries raise `DatasetEntryError` naming the file and the cause; with
`skip_bad=True` they are skipped and listed in `StructureDataset.skipped`.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import re
import types
from typing import (Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import numpy as np

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from alphafold_jax.common import structure_io
from data_pipeline import labels as labels_lib
from data_pipeline import parsers
from data_pipeline import transforms
from data_pipeline.errors import MsaError, PipelineError
from data_pipeline.feature_schema import FEATURE_SCHEMA
from data_pipeline.processed_features import FeatureConfig, process_features
from data_pipeline.raw_features import make_raw_features

FeatureDict = Dict[str, np.ndarray]
PathLike = Union[str, pathlib.Path]

STRUCTURE_SUFFIXES = ('.pdb', '.ent', '.cif', '.mmcif')
MSA_PARSERS: Mapping[str, Callable[[str], parsers.Msa]] = types.MappingProxyType({
    '.a3m': parsers.parse_a3m, '.sto': parsers.parse_stockholm})

# AF2 initial-training sizes (Suppl. Table 4): 128 MSA clusters, 1024 extra rows.
# num_recycle=0 gives a single ensemble member (one MSA sample per example).
TRAINING_FEATURE_CONFIG = FeatureConfig(
    max_msa_clusters=128, max_extra_msa=1024, num_recycle=0)


class DatasetEntryError(PipelineError):
  """An entry of the dataset could not be turned into a training example."""


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
  """How examples are built.

  crop_size: contiguous crop length (AF2: 256); None keeps whole chains.
  buckets: residue lengths to pad to (smallest that fits); None pads to
    crop_size when cropping, else not at all.
  feature_config: processed-feature settings (its num_res is set per example).
  chain_id: chain to read from every file (None: the first protein chain).
  shuffle: visit entries in a seeded random order per epoch.
  skip_bad: skip unreadable entries (recorded in `skipped`) instead of raising.
  squeeze_ensemble: drop the leading ensemble axis of processed features when
    it has size 1; with size > 1 (per-recycle MSA resampling) the axis is kept
    and the affected keys are listed in `StructureDataset.ensemble_keys`.
  """
  crop_size: Optional[int] = 256
  buckets: Optional[Tuple[int, ...]] = transforms.DEFAULT_BUCKETS
  feature_config: FeatureConfig = TRAINING_FEATURE_CONFIG
  chain_id: Optional[str] = None
  shuffle: bool = True
  skip_bad: bool = False
  squeeze_ensemble: bool = True

  def __post_init__(self):
    if self.crop_size is not None and self.crop_size < 1:
      raise ValueError(f'crop_size must be >= 1 or None, got {self.crop_size}')
    if self.buckets is not None and (not self.buckets or min(self.buckets) < 1):
      raise ValueError(f'buckets must be positive lengths, got {self.buckets}')


@dataclasses.dataclass(frozen=True)
class Entry:
  """One structure file and the MSA files matched to it by stem."""
  name: str
  structure_path: pathlib.Path
  msa_paths: Tuple[pathlib.Path, ...] = ()


def _stem(path: pathlib.Path) -> str:
  name = path.name[:-3] if path.name.endswith('.gz') else path.name
  return name.rsplit('.', 1)[0]


def _suffix(path: pathlib.Path) -> str:
  suffixes = [s.lower() for s in path.suffixes if s.lower() != '.gz']
  return suffixes[-1] if suffixes else ''


def find_entries(directory: PathLike) -> List[Entry]:
  """Structure files of `directory` (sorted by name) with their matching MSAs."""
  directory = pathlib.Path(directory)
  if not directory.is_dir():
    raise DatasetEntryError(f'{directory}: dataset directory not found')
  files = sorted(p for p in directory.iterdir() if p.is_file())
  entries = []
  seen = {}
  for path in files:
    if _suffix(path) not in STRUCTURE_SUFFIXES:
      continue
    name = _stem(path)
    if name in seen:
      raise DatasetEntryError(
          f'{path}: two structure files share the name {name!r} ({seen[name].name})')
    seen[name] = path
    msas = [p for p in files if _stem(p) == name and _suffix(p) in MSA_PARSERS]
    folder = directory / name
    if folder.is_dir():
      msas += sorted(p for p in folder.iterdir()
                     if p.is_file() and _suffix(p) in MSA_PARSERS)
    entries.append(Entry(name, path, tuple(msas)))
  if not entries:
    raise DatasetEntryError(f'{directory}: no structure files '
                            f'({", ".join(STRUCTURE_SUFFIXES)})')
  return entries


_PDB_RESOLUTION = re.compile(r'^REMARK   2 RESOLUTION\.\s+([0-9.]+)', re.M)
_CIF_RESOLUTION = re.compile(
    r'^(?:_refine\.ls_d_res_high|_reflns\.d_resolution_high|'
    r'_em_3d_reconstruction\.resolution)\s+([0-9.]+)\s*$', re.M)


def read_resolution(text: str, fmt: str) -> float:
  """Resolution in angstrom from a PDB/mmCIF header; 0.0 when absent (NMR), as AF2."""
  match = (_CIF_RESOLUTION if fmt == 'mmcif' else _PDB_RESOLUTION).search(text)
  try:
    return float(match.group(1)) if match else 0.
  except ValueError:
    return 0.


def _read_msas(paths: Sequence[pathlib.Path]) -> List[parsers.Msa]:
  msas = []
  for path in paths:
    try:
      msas.append(MSA_PARSERS[_suffix(path)](path.read_text()))
    except PipelineError as e:
      raise DatasetEntryError(f'{path}: {e}') from e
  return msas


def _squeeze_ensemble(features: FeatureDict) -> FeatureDict:
  return {k: v[0] if k in FEATURE_SCHEMA else v for k, v in features.items()}


def build_example(entry: Entry, config: DatasetConfig,
                  rng: np.random.Generator) -> FeatureDict:
  """The training example of one entry (see module docstring). Raises on bad input."""
  text, fmt = structure_io.read_structure_text(entry.structure_path)
  prot = protein_lib.from_string(text, fmt, config.chain_id,
                                 str(entry.structure_path))
  labels = labels_lib.labels_from_protein(prot, read_resolution(text, fmt))
  sequence = ''.join(rc.restypes_with_x[a] for a in prot.aatype)
  try:
    raw = make_raw_features(sequence, entry.name, _read_msas(entry.msa_paths))
  except MsaError as e:  # MSA i of the message is entry.msa_paths[i]
    files = ', '.join(f'MSA {i} = {p.name}' for i, p in enumerate(entry.msa_paths))
    raise DatasetEntryError(
        f'{entry.structure_path}: {e} ({files}; structure sequence {sequence})') from e
  raw['residue_index'] = np.asarray(prot.residue_index, np.int32)

  num_res = prot.num_residues
  if config.crop_size is not None:
    start = transforms.choose_crop_start(num_res, config.crop_size, rng)
    size = min(config.crop_size, num_res)
    raw = transforms.crop_example(raw, start, size)
    labels = transforms.crop_example(labels, start, size)
    num_res = size
  if config.buckets is not None:
    pad_to = transforms.pick_bucket(num_res, config.buckets)
  else:
    pad_to = config.crop_size or num_res

  feature_config = dataclasses.replace(config.feature_config, num_res=pad_to)
  processed = process_features(raw, feature_config, seed=rng)
  if config.squeeze_ensemble and feature_config.num_ensemble_total == 1:
    processed = _squeeze_ensemble(processed)
  labels = transforms.pad_example(labels, pad_to)
  return {**labels, **processed}


class StructureDataset:
  """Deterministic, seeded iteration over the training examples of a directory.

  `dataset.epoch(e)` yields the examples of epoch e (entries shuffled with
  (seed, e)); each example is built with a Generator seeded by
  (seed, e, entry index), so it does not depend on other entries or on skips.
  """

  def __init__(self, directory: PathLike, config: DatasetConfig = DatasetConfig(),
               seed: int = 0):
    self.directory = pathlib.Path(directory)
    self.config = config
    self.seed = int(seed)
    self.entries = find_entries(self.directory)
    self.skipped: List[Tuple[str, str]] = []

  def __len__(self) -> int:
    return len(self.entries)

  @property
  def ensemble_keys(self) -> Tuple[str, ...]:
    """Keys carrying a leading ensemble axis (for `transforms.*(ensemble_keys=)`)."""
    fc = self.config.feature_config
    if self.config.squeeze_ensemble and fc.num_ensemble_total == 1:
      return ()
    return tuple(sorted(FEATURE_SCHEMA))

  def example(self, index: int, epoch: int = 0) -> FeatureDict:
    """Example of entry `index` in `epoch`; raises DatasetEntryError naming the file."""
    entry = self.entries[index]
    rng = np.random.default_rng([self.seed, epoch, index])
    try:
      return build_example(entry, self.config, rng)
    except DatasetEntryError:
      raise
    except Exception as e:  # any failure of one entry is reported with its path
      message = str(e)
      if str(entry.structure_path) not in message:
        message = f'{entry.structure_path}: {message}'
      raise DatasetEntryError(
          f'entry {entry.name!r} unreadable: {type(e).__name__}: {message}') from e

  def epoch(self, epoch: int = 0) -> Iterator[FeatureDict]:
    """Examples of one epoch; bad entries raise, or are skipped if skip_bad."""
    order = np.arange(len(self.entries))
    if self.config.shuffle:
      order = np.random.default_rng([self.seed, epoch]).permutation(order)
    self.skipped = []
    for index in order:
      try:
        yield self.example(int(index), epoch)
      except DatasetEntryError as e:
        if not self.config.skip_bad:
          raise
        self.skipped.append((self.entries[index].name, str(e)))
        logging.warning('skipping %s', e)

  def __iter__(self) -> Iterator[FeatureDict]:
    """Endless iteration over epochs 0, 1, 2, ..."""
    epoch = 0
    while True:
      count = 0
      for example in self.epoch(epoch):
        count += 1
        yield example
      if count == 0:
        raise DatasetEntryError(f'{self.directory}: every entry was skipped as unreadable')
      epoch += 1

  def batches(self, batch_size: int, epoch: int = 0) -> Iterator[FeatureDict]:
    """Batches of `batch_size` examples of one epoch (last one may be smaller)."""
    pending = []
    for example in self.epoch(epoch):
      pending.append(example)
      if len(pending) == batch_size:
        yield self._stack(pending)
        pending = []
    if pending:
      yield self._stack(pending)

  def _stack(self, examples: List[FeatureDict]) -> FeatureDict:
    return transforms.batch_examples(examples, buckets=self.config.buckets,
                                     ensemble_keys=self.ensemble_keys)
