"""Training examples from a directory of PDB / mmCIF files (+ optional MSAs).

Directory layout (an entry = one structure file; its name is the file stem):

  data/1CRN.pdb             structure (.pdb, .ent, .cif, .mmcif, optionally .gz)
  data/1CRN.a3m             optional MSAs with the same stem (.a3m, .sto) ...
  data/1CRN/*.a3m|*.sto     ... and/or in a folder named like the stem
  data/1CRN/templates/      optional template structures (PDB/mmCIF): each aligned to the chain
                            (data_pipeline.templates.custom); none -> zero templates

Each example is built by the one example builder, `data_pipeline.examples.build_example`:
the chain's atom37 structure gives the labels, its sequence and MSAs the raw features (no MSA:
the single-sequence, one-row MSA), one contiguous crop window for both, AF2 processed features
padded to the residue bucket, labels padded to the same length. `read_entry` turns an entry
into its `ExampleSource`; `StructureDataset` is an `examples.ExampleSet` whose sources are read
from the files on every use (nothing is cached), so an example's crop and MSA sampling are
redrawn per (seed, epoch, entry index) and the same seed gives the same examples.

Unreadable entries raise `DatasetEntryError` naming the file and the cause; with
`skip_bad=True` they are skipped and listed in `StructureDataset.skipped`
(`StructureDataset.validate()` checks every entry once up front and drops the bad ones: a
corrupt file, no resolved residues, an MSA whose query is not the chain).
`af2_filters=True`: `validate()` also drops the chains AF2's training filters reject
(resolution > 9 A, one residue type > 80 %; data_pipeline.chain_sampling), listed apart in
`StructureDataset.filtered`; `sampling_probs()` gives AF2's per-chain sampling weights.
`distillation=True`: the entries are predicted structures (pLDDT in the B-factor column):
residues below `min_plddt` are masked out of the labels and the resolution is 0
(data_pipeline.distillation).

MSA queries: `msa_query='exact'` (default) requires every MSA's first row to be the chain's
sequence; `'align'` globally aligns the query to the chain's sequence and maps every row onto
the chain's residues (unaligned residues gap), so an MSA of a close homologue or of a
different construct of the same protein can be used (AF2 trains on chains with MSAs searched
for the PDB SEQRES); a query below MIN_QUERY_IDENTITY identity over the aligned pairs, or
covering less than MIN_QUERY_COVERAGE of the chain, is an error (the MSA is not of this chain).
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
from alphafold_jax.common import structure_io
from data_pipeline import chain_sampling
from data_pipeline import distillation as distillation_lib
from data_pipeline import examples as examples_lib
from data_pipeline import parsers
from data_pipeline import transforms
from data_pipeline.errors import MsaError, PipelineError
from data_pipeline.examples import TRAINING_FEATURE_CONFIG  # noqa: F401  (re-exported)
from data_pipeline.processed_features import FeatureConfig

FeatureDict = Dict[str, np.ndarray]
PathLike = Union[str, pathlib.Path]

STRUCTURE_SUFFIXES = ('.pdb', '.ent', '.cif', '.mmcif')
MSA_PARSERS: Mapping[str, Callable[[str], parsers.Msa]] = types.MappingProxyType({
    '.a3m': parsers.parse_a3m, '.sto': parsers.parse_stockholm})

MIN_QUERY_IDENTITY = 0.3
MIN_QUERY_COVERAGE = 0.5
MIN_RESOLVED_RESIDUES = 3  # as training.data.MIN_CA_RESIDUES


class DatasetEntryError(PipelineError):
  """An entry of the dataset could not be turned into a training example."""


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
  """How examples are built (the `examples.ExampleConfig` fields) and entries visited.

  crop_size: contiguous crop length (AF2: 256); None keeps whole chains.
  buckets: residue lengths to pad to (smallest that fits); None pads to
    crop_size when cropping, else not at all.
  num_res: one fixed residue length for every example (overrides buckets).
  feature_config: processed-feature settings (its num_res is set per example);
    None: structure-only examples (no MSA processing).
  chain_id: chain to read from every file (None: the first protein chain).
  shuffle: visit entries in a seeded random order per epoch.
  skip_bad: skip unreadable entries (recorded in `skipped`) instead of raising.
  squeeze_ensemble: drop the leading ensemble axis of processed features when
    it has size 1; with size > 1 (per-recycle MSA resampling) the axis is kept
    and the affected keys are listed in `StructureDataset.ensemble_keys`.
  af2_filters: `validate()` drops chains AF2's filters reject (module docstring).
  distillation: predicted structures: labels of residues with pLDDT < min_plddt masked,
    resolution 0 (data_pipeline.distillation).
  """
  crop_size: Optional[int] = 256
  buckets: Optional[Tuple[int, ...]] = transforms.DEFAULT_BUCKETS
  feature_config: Optional[FeatureConfig] = TRAINING_FEATURE_CONFIG
  chain_id: Optional[str] = None
  shuffle: bool = True
  skip_bad: bool = False
  squeeze_ensemble: bool = True
  num_res: Optional[int] = None
  msa_query: str = 'exact'  # 'exact' | 'align' (module docstring)
  af2_filters: bool = False
  distillation: bool = False
  min_plddt: float = distillation_lib.DISTILLATION_MIN_PLDDT

  def __post_init__(self):
    if self.msa_query not in ('exact', 'align'):
      raise ValueError(f"msa_query must be 'exact' or 'align', got {self.msa_query!r}")
    self.example_config  # pylint: disable=pointless-statement  (validates the fields)

  @property
  def example_config(self) -> examples_lib.ExampleConfig:
    return examples_lib.ExampleConfig(
        crop_size=self.crop_size, buckets=self.buckets, num_res=self.num_res,
        feature_config=self.feature_config, squeeze_ensemble=self.squeeze_ensemble)


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


def align_msa_to_sequence(msa: parsers.Msa, sequence: str) -> parsers.Msa:
  """`msa` with its columns mapped onto `sequence` through a global alignment of its query
  row (row 0 becomes `sequence`; residues of `sequence` without an aligned query column are
  gaps in every other row). MsaError when the query is not a homologue of `sequence`."""
  from data_pipeline.templates.custom import global_alignment_mapping  # pylint: disable=import-outside-toplevel
  query = msa.sequences[0]
  if query == sequence:
    return msa
  mapping = global_alignment_mapping(query, sequence)  # query column -> sequence index
  same = sum(query[q] == sequence[t] for q, t in mapping.items())
  identity = same / max(len(mapping), 1)
  coverage = len(mapping) / max(len(sequence), 1)
  if identity < MIN_QUERY_IDENTITY or coverage < MIN_QUERY_COVERAGE:
    raise MsaError(f'MSA query {query[:30]}... is not this chain: {identity:.0%} identity over '
                   f'{len(mapping)} aligned residues, {coverage:.0%} of the {len(sequence)}-residue '
                   f'chain covered (need {MIN_QUERY_IDENTITY:.0%} and {MIN_QUERY_COVERAGE:.0%})')
  pairs = sorted(mapping.items())
  sequences, deletions = [sequence], [[0] * len(sequence)]
  for row, dels in zip(msa.sequences[1:], msa.deletion_matrix[1:]):
    new_row, new_dels = ['-'] * len(sequence), [0] * len(sequence)
    for q, t in pairs:
      new_row[t], new_dels[t] = row[q], dels[q]
    sequences.append(''.join(new_row))
    deletions.append(new_dels)
  return parsers.Msa(sequences=sequences, deletion_matrix=deletions,
                     descriptions=list(msa.descriptions))


def read_entry(entry: Entry, config: DatasetConfig) -> examples_lib.ExampleSource:
  """The whole-chain source (raw features + labels) of one entry. Raises on bad input
  (including a chain with fewer than MIN_RESOLVED_RESIDUES residues with a CA atom)."""
  text, fmt = structure_io.read_structure_text(entry.structure_path)
  prot = protein_lib.from_string(text, fmt, config.chain_id,
                                 str(entry.structure_path))
  if config.distillation:
    prot = distillation_lib.mask_low_confidence(prot, config.min_plddt)
  resolved = int(np.sum(np.asarray(prot.atom_mask)[:, 1] > 0))
  if resolved < MIN_RESOLVED_RESIDUES:
    confident = f' and pLDDT >= {config.min_plddt:g}' if config.distillation else ''
    raise DatasetEntryError(f'{entry.structure_path}: {resolved} resolved residue(s) (with a CA '
                            f'atom{confident}), need at least {MIN_RESOLVED_RESIDUES}')
  msas = _read_msas(entry.msa_paths)
  try:
    if config.msa_query == 'align':
      sequence = examples_lib.protein_sequence(prot)
      msas = [align_msa_to_sequence(m, sequence) for m in msas]
    resolution = 0. if config.distillation else read_resolution(text, fmt)
    source = examples_lib.source_from_protein(prot, entry.name, msas, resolution)
    folder = entry.structure_path.parent / entry.name / 'templates'
    if folder.is_dir():
      from data_pipeline.templates.custom import custom_template_features  # pylint: disable=import-outside-toplevel
      templates, _ = custom_template_features(str(folder), examples_lib.protein_sequence(prot))
      source.raw.update({k: v for k, v in templates.items()
                         if k in ('template_aatype', 'template_all_atom_positions',
                                  'template_all_atom_masks', 'template_sum_probs')})
    return source
  except MsaError as e:  # MSA i of the message is entry.msa_paths[i]
    files = ', '.join(f'MSA {i} = {p.name}' for i, p in enumerate(entry.msa_paths))
    raise DatasetEntryError(
        f'{entry.structure_path}: {e} ({files}; structure sequence '
        f'{examples_lib.protein_sequence(prot)})') from e


class StructureDataset(examples_lib.ExampleSet):
  """Deterministic, seeded iteration over the training examples of a directory.

  `dataset.epoch(e)` yields the examples of epoch e (entries shuffled with
  (seed, e)); each example is built with a Generator seeded by
  (seed, e, entry index), so it does not depend on other entries or on skips.
  """

  def __init__(self, directory: PathLike, config: DatasetConfig = DatasetConfig(),
               seed: int = 0):  # pylint: disable=super-init-not-called  (sources are files)
    self.directory = pathlib.Path(directory)
    self.config = config
    self.seed = int(seed)
    self.entries = find_entries(self.directory)
    self.skipped: List[Tuple[str, str]] = []
    self.filtered: List[Tuple[str, str]] = []  # dropped by AF2's training filters
    self.num_residues: Dict[str, int] = {}  # chain lengths, recorded by validate()

  def __len__(self) -> int:
    return len(self.entries)

  @property
  def names(self) -> List[str]:
    return [e.name for e in self.entries]

  @property
  def example_config(self) -> examples_lib.ExampleConfig:
    return self.config.example_config

  def source(self, index: int) -> examples_lib.ExampleSource:
    return read_entry(self.entries[index], self.config)

  def build(self, index: int, seed: examples_lib.Seed) -> FeatureDict:
    """Example of entry `index` drawn with `seed`; raises DatasetEntryError naming the file."""
    entry = self.entries[index]
    try:
      return super().build(index, seed)
    except DatasetEntryError:
      raise
    except Exception as e:  # any failure of one entry is reported with its path
      message = str(e)
      if str(entry.structure_path) not in message:
        message = f'{entry.structure_path}: {message}'
      raise DatasetEntryError(
          f'entry {entry.name!r} unreadable: {type(e).__name__}: {message}') from e

  def validate(self, on_skip: Optional[Callable[[str, str], None]] = None) -> List[Tuple[str, str]]:
    """Reads every entry once; drops the unreadable ones (corrupt file, no resolved residues,
    an MSA that is not of the chain), each reported as on_skip(name, reason) and listed in
    `skipped`, and with `config.af2_filters` the chains AF2's filters reject (listed in
    `filtered`, logged). Records every kept chain's length (`num_residues`). Returns the
    skipped (name, reason) pairs; DatasetEntryError if none is left."""
    good, bad, filtered = [], [], []
    self.num_residues = {}
    for entry in self.entries:
      try:
        source = read_entry(entry, self.config)
      except Exception as e:  # pylint: disable=broad-except  (any unreadable entry is skipped)
        reason = ' '.join(str(e).split())
        bad.append((entry.name, reason))
        (on_skip or (lambda n, r: logging.warning('skipping %s: %s', n, r)))(entry.name, reason)
        continue
      reason = (chain_sampling.filter_reason(source.sequence, float(source.labels['resolution']))
                if self.config.af2_filters else None)
      if reason is not None:
        filtered.append((entry.name, reason))
        logging.info('AF2 training filter drops %s: %s', entry.name, reason)
        continue
      good.append(entry)
      self.num_residues[entry.name] = source.num_res
    if not good:
      raise DatasetEntryError(f'{self.directory}: every entry was skipped as unreadable'
                              + (f' or filtered ({len(filtered)})' if filtered else ''))
    self.entries = good
    self.skipped = list(bad)
    self.filtered = filtered
    return bad

  def sampling_probs(self, clusters: Optional[Mapping[str, int]] = None) -> np.ndarray:
    """[n] AF2's chain sampling probabilities (Suppl. 1.2.5: length weight / cluster size,
    data_pipeline.chain_sampling) of the entries; validate() first (it records lengths)."""
    missing = [e.name for e in self.entries if e.name not in self.num_residues]
    if missing:
      raise DatasetEntryError(f'{self.directory}: sampling_probs needs validate() first '
                              f'(no length for {missing[:3]})')
    lengths = [self.num_residues[e.name] for e in self.entries]
    return chain_sampling.chain_weights(lengths, chain_sampling.cluster_sizes(self.names, clusters))

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
                                     num_res=self.config.num_res,
                                     ensemble_keys=self.ensemble_keys)
