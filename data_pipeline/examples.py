"""The ONE training-example builder: crop + raw features + labels -> one example (NumPy).

Every training or evaluation example of the project (directory datasets, the training presets,
the training-time evaluation) is built here, from an `ExampleSource`: the whole chain's raw
features (`make_raw_features` layout) and its structure labels (`data_pipeline.labels`).

`build_example(source, config, seed)`, AF2 training (Suppl. 1.2):
  1. one contiguous crop window (`transforms.choose_crop_start`, start uniform) applied to the
     raw features and the labels alike (`config.crop_size`; None keeps the whole chain);
  2. the raw features of the window are processed into AF2 model features
     (`process_features`: MSA clusters, BERT mask, extra MSA, msa_feat) padded to the example
     length, the ensemble axis dropped when it has size 1 (`config.squeeze_ensemble`);
     with `config.feature_config=None` no MSA processing runs and the features are only
     `residue_index` and `seq_mask` (structure-only models: aatype comes with the labels);
  3. the labels are zero-padded to the same length (`transforms.pad_example`).
The example length is `config.num_res` when set, else the smallest of `config.buckets` that
holds the crop, else the crop size, else the chain length.

Randomness: the crop start is drawn first, then the MSA processing continues the same stream.
`seed` is an int (handed to `process_features` as is when nothing is cropped, so an evaluation
seed gives exactly the features `alphafold-jax predict` computes), a sequence of ints or a
numpy Generator. A new seed per use redraws crop, cluster sampling, BERT mask and extra MSA as
AF2 does every time an example is used; the same seed gives the same example.

`ExampleSet(sources, config, seed)` holds sources in memory: `example(index, epoch)` builds
with the seed (seed, epoch, index), the interface `data_pipeline.dataset.StructureDataset`
(which reads its sources from files) shares, so step-keyed samplers take either.

DISCREPANCY: AF2 crops after MSA processing, so its nearest-neighbour cluster assignment
compares whole rows; here the crop comes first and assignment uses the cropped columns only
(per-column quantities are unaffected, and processing the crop is cheaper).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from alphafold_jax.common import residue_constants as rc
from data_pipeline import labels as labels_lib
from data_pipeline import parsers
from data_pipeline import transforms
from data_pipeline.errors import PipelineError
from data_pipeline.feature_schema import FEATURE_SCHEMA
from data_pipeline.processed_features import FeatureConfig, process_features
from data_pipeline.raw_features import make_raw_features

FeatureDict = Dict[str, np.ndarray]
Seed = Union[int, Sequence[int], np.random.Generator]

# AF2 initial-training sizes (Suppl. Table 4): 128 MSA clusters, 1024 extra rows.
# num_recycle=0 gives a single ensemble member (one MSA sample per example).
TRAINING_FEATURE_CONFIG = FeatureConfig(
    max_msa_clusters=128, max_extra_msa=1024, num_recycle=0)


@dataclasses.dataclass(frozen=True)
class ExampleConfig:
  """How one example is built from its source (module docstring).

  crop_size: contiguous crop length (AF2: 256); None keeps whole chains.
  buckets: example lengths (smallest that fits) when num_res is None.
  num_res: one fixed example length for every example (a batch of one shape).
  feature_config: processed-feature settings (its num_res is set per example); None: no MSA
    processing (structure-only features).
  squeeze_ensemble: drop the leading ensemble axis of processed features when it has size 1.
  """
  crop_size: Optional[int] = 256
  buckets: Optional[Tuple[int, ...]] = transforms.DEFAULT_BUCKETS
  num_res: Optional[int] = None
  feature_config: Optional[FeatureConfig] = TRAINING_FEATURE_CONFIG
  squeeze_ensemble: bool = True

  def __post_init__(self):
    if self.crop_size is not None and self.crop_size < 1:
      raise ValueError(f'crop_size must be >= 1 or None, got {self.crop_size}')
    if self.buckets is not None and (not self.buckets or min(self.buckets) < 1):
      raise ValueError(f'buckets must be positive lengths, got {self.buckets}')
    if self.num_res is not None and self.num_res < 1:
      raise ValueError(f'num_res must be >= 1 or None, got {self.num_res}')

  def pad_length(self, num_res: int) -> int:
    """Example length of a (cropped) chain of num_res residues."""
    if self.num_res is not None:
      return self.num_res
    if self.buckets is not None:
      return transforms.pick_bucket(num_res, self.buckets)
    return self.crop_size or num_res

  @property
  def ensemble_keys(self) -> Tuple[str, ...]:
    """Keys carrying a leading ensemble axis (for `transforms.*(ensemble_keys=)`)."""
    fc = self.feature_config
    if fc is None or (self.squeeze_ensemble and fc.num_ensemble_total == 1):
      return ()
    return tuple(sorted(FEATURE_SCHEMA))


@dataclasses.dataclass(frozen=True)
class ExampleSource:
  """What examples of one chain are built from: whole-chain raw features and labels."""
  name: str
  raw: FeatureDict  # make_raw_features layout, [L, ...] / MSA [N, L]
  labels: FeatureDict  # data_pipeline.labels.make_structure_labels, [L, ...]

  @property
  def num_res(self) -> int:
    return int(np.shape(self.labels['aatype'])[0])

  @property
  def sequence(self) -> str:
    """One-letter sequence of the chain (unknown types -> X)."""
    return _one_letter(self.labels['aatype'])


def _one_letter(aatype) -> str:
  return ''.join(rc.restypes_with_x[a] for a in np.asarray(aatype))


def protein_sequence(prot) -> str:
  """One-letter sequence of a Protein's residues (unknown types -> X)."""
  return _one_letter(prot.aatype)


def source_from_protein(prot, name: str = '', msas: Sequence[parsers.Msa] = (),
                        resolution: float = 0., numbering: str = 'structure') -> ExampleSource:
  """The source of a `Protein` chain (+ optional MSAs whose query is its sequence).

  numbering='structure': residue_index is the chain's residue numbers shifted to start at 0
  (gaps of unresolved residues kept); 'sequence': 0..L-1, as a prediction from the sequence.
  """
  if numbering not in ('structure', 'sequence'):
    raise ValueError(f"numbering must be 'structure' or 'sequence', got {numbering!r}")
  labels = labels_lib.labels_from_protein(prot, resolution)
  raw = make_raw_features(protein_sequence(prot), name, list(msas))
  if numbering == 'structure':
    index = np.asarray(prot.residue_index, np.int64)
    raw['residue_index'] = (index - index[0]).astype(np.int32)
  return ExampleSource(name, raw, labels)


def _generator(seed: Seed) -> np.random.Generator:
  return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _squeeze_ensemble(features: FeatureDict) -> FeatureDict:
  return {k: v[0] if k in FEATURE_SCHEMA else v for k, v in features.items()}


def build_example(source: ExampleSource, config: ExampleConfig, seed: Seed) -> FeatureDict:
  """One example of `source`: crop, process features, pad (module docstring).

  Returns one flat dict: the features plus every label; keys present in both (aatype,
  atom14/atom37 maps, seq_mask) hold equal values. Object-dtype raw keys are not kept.
  """
  raw, labels = source.raw, source.labels
  num_res = source.num_res
  if config.crop_size is not None and num_res > config.crop_size:
    rng = _generator(seed)
    start = transforms.choose_crop_start(num_res, config.crop_size, rng)
    raw = transforms.crop_example(raw, start, config.crop_size)
    labels = transforms.crop_example(labels, start, config.crop_size)
    num_res, seed = config.crop_size, rng  # the MSA processing continues the stream
  pad_to = config.pad_length(num_res)
  if pad_to < num_res:
    raise transforms.TransformError(
        f'{source.name}: {num_res} residues do not fit the example length {pad_to}; crop first')
  fc = config.feature_config
  if fc is None:
    features = transforms.pad_example(
        {'residue_index': np.asarray(raw['residue_index'], np.int32),
         'seq_mask': np.ones((num_res,), np.float32)}, pad_to)
  else:
    if not isinstance(seed, (int, np.integer)):
      seed = _generator(seed)
    fc = dataclasses.replace(fc, num_res=pad_to)
    features = process_features(raw, fc, seed=seed)
    if config.squeeze_ensemble and fc.num_ensemble_total == 1:
      features = _squeeze_ensemble(features)
  return {**transforms.pad_example(labels, pad_to), **features}


class ExampleSet:
  """Examples of in-memory sources, built afresh on every call (see module docstring)."""

  def __init__(self, sources: Sequence[ExampleSource], config: ExampleConfig, seed: int = 0):
    if not sources:
      raise PipelineError('ExampleSet: no sources')
    self.sources: List[ExampleSource] = list(sources)
    self.config = config
    self.seed = int(seed)

  def __len__(self) -> int:
    return len(self.sources)

  @property
  def names(self) -> List[str]:
    return [s.name for s in self.sources]

  @property
  def example_config(self) -> ExampleConfig:
    return self.config

  @property
  def ensemble_keys(self) -> Tuple[str, ...]:
    return self.example_config.ensemble_keys

  def source(self, index: int) -> ExampleSource:
    return self.sources[index]

  def build(self, index: int, seed: Seed) -> FeatureDict:
    """The example of source `index` drawn with `seed`."""
    return build_example(self.source(index), self.example_config, seed)

  def example(self, index: int, epoch: int = 0) -> FeatureDict:
    """The example of source `index` in `epoch`: seed (set seed, epoch, index)."""
    return self.build(index, np.random.default_rng([self.seed, epoch, index]))


def common_length(sources: Sequence[ExampleSource], crop_size: Optional[int]) -> int:
  """One example length for all sources: the longest chain, capped at crop_size."""
  longest = max(s.num_res for s in sources)
  return longest if crop_size is None else min(crop_size, longest)
