"""Prediction driver: targets -> padded features -> one compiled model per length bucket.

    predictor = Predictor(model_config('model_1_ptm'), params)
    result = predictor.predict(target, seed=0)      # outputs cut back to the target length
    results = predict_targets(predictor, targets, num_samples=3, seed=0)

Length bucketing: every target is padded (FeatureConfig.num_res) to the smallest bucket that
holds it, so all targets of one bucket have identical feature shapes and share one XLA
executable; padded residues are masked (seq_mask = 0) and cut from every output. Lengths
beyond the largest bucket are rounded up to a multiple of `BUCKET_STEP_BEYOND`. The first
target of a bucket logs 'compiling for bucket N' and increments `num_compiles`; the feature
shapes are a function of the bucket alone (the config fixes MSA/extra-MSA/template sizes and
the recycling axis), so jax's own jit cache grows exactly when this counter does.

Samples: sample k uses seed `seed + k` for the MSA sampling/masking of the input pipeline and
for the model's PRNG key; samples are ranked by mean pLDDT (AF2 monomer ranking confidence).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np

from alphafold_jax.inference import targets as targets_lib
from alphafold_jax.inference.targets import Target
from data_pipeline.transforms import DEFAULT_BUCKETS

log = logging.getLogger(__name__)

BUCKET_STEP_BEYOND = 512


def bucket_length(length: int, buckets: Sequence[int] = DEFAULT_BUCKETS) -> int:
  """Smallest bucket >= length (beyond the last: next multiple of BUCKET_STEP_BEYOND)."""
  if length < 1:
    raise ValueError(f'sequence length must be >= 1, got {length}')
  for bucket in sorted(buckets):
    if bucket >= length:
      return int(bucket)
  return int(-(-length // BUCKET_STEP_BEYOND) * BUCKET_STEP_BEYOND)


def parse_buckets(text: str) -> tuple:
  """'64,128,256' -> (64, 128, 256); positive, increasing integers."""
  try:
    values = tuple(int(v) for v in text.split(',') if v.strip())
  except ValueError:
    raise ValueError(f'--buckets expects comma-separated integers, got {text!r}') from None
  if not values or min(values) < 1 or list(values) != sorted(set(values)):
    raise ValueError(f'--buckets must be increasing positive integers, got {text!r}')
  return values


@dataclasses.dataclass(frozen=True)
class Sample:
  """One prediction of one target, outputs cut to the target's length L."""
  seed: int
  final_atom_positions: np.ndarray  # [L, 37, 3]
  final_atom_mask: np.ndarray  # [L, 37]
  plddt: np.ndarray  # [L] 0-100
  num_recycles: int
  bucket: int
  predicted_aligned_error: Optional[np.ndarray] = None  # [L, L] angstrom (PAE models)
  max_predicted_aligned_error: Optional[float] = None
  ptm: Optional[float] = None

  @property
  def mean_plddt(self) -> float:
    return float(np.mean(self.plddt))


@dataclasses.dataclass(frozen=True)
class TargetResult:
  """All samples of one target; `ranking` lists sample indices, best (highest mean pLDDT) first."""
  target: Target
  samples: List[Sample]
  ranking: List[int]

  @property
  def best(self) -> Sample:
    return self.samples[self.ranking[0]]


def rank_samples(samples: Sequence[Sample]) -> List[int]:
  """Indices by decreasing mean pLDDT (ties: lower seed first)."""
  return sorted(range(len(samples)), key=lambda i: (-samples[i].mean_plddt, samples[i].seed))


def input_signature(features: Mapping[str, np.ndarray]) -> tuple:
  """(key, shape, dtype) of every model input: what decides whether jax.jit recompiles."""
  from alphafold_jax.model.run_model import model_inputs  # pylint: disable=import-outside-toplevel
  return tuple(sorted((k, v.shape, str(v.dtype)) for k, v in model_inputs(features).items()))


class Predictor:
  """A model with its parameters, compiled once per length bucket."""

  def __init__(self, config, params, buckets: Sequence[int] = DEFAULT_BUCKETS,
               num_devices: Optional[int] = None):
    from alphafold_jax.model import RunModel  # pylint: disable=import-outside-toplevel
    self.config = config
    self.buckets = tuple(sorted(int(b) for b in buckets))
    self.runner = RunModel(config, params, num_devices=num_devices)  # >1: residue split
    self.compiled_buckets: List[int] = []  # bucket of each compile, in order
    self._signatures: set = set()  # input (key, shape, dtype) tuples already compiled

  @property
  def num_compiles(self) -> int:
    """Distinct model-input signatures seen = executables jax compiled for this predictor."""
    return len(self._signatures)

  def bucket_for(self, length: int) -> int:
    return bucket_length(length, self.buckets)

  def features(self, target: Target, seed: int, raw: Optional[dict] = None) -> dict:
    """Processed features of `target` padded to its bucket (AF2 keys, leading ensemble axis)."""
    from data_pipeline import process_features  # pylint: disable=import-outside-toplevel
    raw = targets_lib.raw_features(target) if raw is None else raw
    data = dataclasses.replace(self.config.data, num_res=self.bucket_for(len(target)))
    return process_features(raw, data, seed)

  def predict(self, target: Target, seed: int = 0, raw: Optional[dict] = None) -> Sample:
    """One sample of `target` (outputs cut from the bucket size back to the target length)."""
    bucket = self.bucket_for(len(target))
    features = self.features(target, seed, raw)
    signature = input_signature(features)
    if signature not in self._signatures:  # jax.jit retraces + compiles exactly here
      self._signatures.add(signature)
      self.compiled_buckets.append(bucket)
      log.info('compiling for bucket %d (first target %s, length %d); compile #%d',
               bucket, target.name, len(target), self.num_compiles)
    out = self.runner.predict(features, random_seed=seed)
    n = len(target)
    pae = out.get('predicted_aligned_error')
    return Sample(
        seed=int(seed),
        final_atom_positions=np.asarray(out['final_atom_positions'][:n], np.float32),
        final_atom_mask=np.asarray(out['final_atom_mask'][:n], np.float32),
        plddt=np.asarray(out['plddt'][:n], np.float32),
        num_recycles=int(out['num_recycles']),
        bucket=bucket,
        predicted_aligned_error=None if pae is None else np.asarray(pae[:n, :n], np.float32),
        max_predicted_aligned_error=(None if 'max_predicted_aligned_error' not in out
                                     else float(out['max_predicted_aligned_error'])),
        ptm=None if 'ptm' not in out else float(out['ptm']))


def predict_targets(predictor: Predictor, targets: Sequence[Target], num_samples: int = 1,
                    seed: int = 0, progress: bool = False,
                    raw_features: Optional[Mapping[str, dict]] = None) -> Iterator[TargetResult]:
  """Yields one TargetResult per target (samples use seeds seed, seed+1, ...).

  Targets are visited grouped by bucket (stable within a bucket) so each executable is
  built once and used back to back; results come out in that order. `raw_features`
  ({name: raw feature dict}, e.g. from `check_targets`) avoids rebuilding them.
  """
  if num_samples < 1:
    raise ValueError(f'--num-samples must be >= 1, got {num_samples}')
  from tqdm import tqdm  # pylint: disable=import-outside-toplevel
  order = sorted(range(len(targets)), key=lambda i: predictor.bucket_for(len(targets[i])))
  with tqdm(total=len(targets), desc='predict', unit='target', disable=not progress) as bar:
    for i in order:
      target = targets[i]
      bar.set_postfix_str(f'{target.name} (L={len(target)})')
      raw = (raw_features or {}).get(target.name) or targets_lib.raw_features(target)
      samples = [predictor.predict(target, seed + k, raw) for k in range(num_samples)]
      bar.update(1)
      yield TargetResult(target=target, samples=samples, ranking=rank_samples(samples))


def check_targets(targets: Sequence[Target]) -> Dict[str, dict]:
  """Builds every target's raw features up front, so bad inputs fail before any compute."""
  if not targets:
    raise targets_lib.InputError('no targets to predict')
  return {t.name: targets_lib.raw_features(t) for t in targets}
