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

Memory (memory.py): before a bucket's program runs, its need is estimated, first analytically
(the pair representation alone: no compile) and then from XLA's buffer assignment of the
compiled program (`compile().memory_analysis()`); if it exceeds the available memory the
bucket is refused with `MemoryEstimateError` naming need, availability and the flag that would
help. `run_targets` isolates targets: a failing one (refused, out of memory, non-finite
output) is reported as a `TargetOutcome` with its error and the others still run.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np

from alphafold_jax.common.errors import UserError, one_line
from alphafold_jax.inference import memory
from alphafold_jax.inference import targets as targets_lib
from alphafold_jax.inference.memory import MemoryEstimateError
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


class PredictionError(UserError):
  """A prediction came out unusable (e.g. non-finite coordinates)."""


class Predictor:
  """A model with its parameters, compiled once per length bucket.

  available_bytes: memory the model may use (default: `memory.available_bytes()`, which reads
  ALPHAFOLD_JAX_AVAILABLE_MEMORY_MIB when set); a bucket whose estimate exceeds it is refused.
  num_devices: > 1 splits each prediction over that many devices along the residue axis.
  """

  def __init__(self, config, params, buckets: Sequence[int] = DEFAULT_BUCKETS,
               available_bytes: Optional[int] = None, num_devices: Optional[int] = None):
    from alphafold_jax.model import RunModel  # pylint: disable=import-outside-toplevel
    self.config = config
    self.buckets = tuple(sorted(int(b) for b in buckets))
    self.runner = RunModel(config, params, num_devices=num_devices)  # >1: residue split
    self.available_bytes = available_bytes
    self.compiled_buckets: List[int] = []  # bucket of each compile, in order
    self._signatures: set = set()  # input (key, shape, dtype) tuples already compiled
    self._refused: Dict[tuple, MemoryEstimateError] = {}  # signature -> refusal

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
    if signature in self._refused:
      raise self._refused[signature].for_target(target.name, len(target))
    if signature not in self._signatures:  # jax.jit retraces + compiles exactly here
      self._check_memory(signature, features, bucket, target)
      self._signatures.add(signature)
      self.compiled_buckets.append(bucket)
    out = self.runner.predict(features, random_seed=seed)
    n = len(target)
    positions = np.asarray(out['final_atom_positions'][:n])
    present = np.asarray(out['final_atom_mask'][:n]) > 0.5
    bad = int(np.sum(~np.isfinite(positions[present]))) + int(
        np.sum(~np.isfinite(np.asarray(out['plddt'][:n]))))
    if bad:
      raise PredictionError(f'target {target.name!r}: the prediction holds {bad} non-finite '
                            'values (coordinates / pLDDT); check the parameters')
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


  def _check_memory(self, signature: tuple, features: dict, bucket: int, target: Target) -> None:
    """Refuses (MemoryEstimateError, remembered per signature) a program that will not fit;
    compiles it ahead of time for the estimate (jax.jit reuses that executable)."""
    from alphafold_jax.model.run_model import model_inputs  # pylint: disable=import-outside-toplevel
    available = (memory.available_bytes() if self.available_bytes is None
                 else int(self.available_bytes))
    batch = model_inputs(features)
    try:
      floor = memory.analytic_floor_bytes(self.config, batch)
      memory.check_fits(floor, available, 'analytic lower bound', bucket, target.name,
                        len(target))
      log.info('compiling for bucket %d (first target %s, length %d); compile #%d',
               bucket, target.name, len(target), self.num_compiles + 1)
      need = self._compiled_need(batch)
      if need is not None:
        memory.check_fits(need, available, 'compiled estimate', bucket, target.name,
                          len(target))
    except MemoryEstimateError as e:
      self._refused[signature] = e
      raise


  def _compiled_need(self, batch: dict) -> Optional[int]:
    """Bytes of the compiled program (XLA memory analysis); jax.jit's cache keeps the executable
    for the call that follows. None for runners without a jitted apply (test doubles)."""
    apply = getattr(self.runner, '_apply', None)  # RunModel's jitted apply
    if not hasattr(apply, 'lower'):
      return None
    import jax  # pylint: disable=import-outside-toplevel
    lowered = apply.lower(self.runner.params, jax.random.PRNGKey(0), batch, np.int32(0))
    return memory.compiled_bytes(lowered.compile())


@dataclasses.dataclass(frozen=True)
class TargetOutcome:
  """What became of one target: `result` when predicted, else `status` and `error`."""
  target: Target
  status: str  # 'ok' | 'failed' | 'skipped'
  result: Optional[TargetResult] = None
  error: Optional[str] = None  # one line


def run_targets(predictor: Predictor, targets: Sequence[Target], num_samples: int = 1,
                seed: int = 0, progress: bool = False,
                raw_features: Optional[Mapping[str, dict]] = None,
                max_length: Optional[int] = None) -> Iterator[TargetOutcome]:
  """Like `predict_targets`, but every target is isolated: any failure of one target (memory
  refusal, out of memory at run time, non-finite output) is yielded as a 'failed' outcome with
  a one-line error and the next target runs; targets longer than `max_length` are 'skipped'.
  KeyboardInterrupt (SIGINT/SIGTERM) is not caught."""
  from tqdm import tqdm  # pylint: disable=import-outside-toplevel
  order = sorted(range(len(targets)), key=lambda i: predictor.bucket_for(len(targets[i])))
  with tqdm(total=len(targets), desc='predict', unit='target', disable=not progress) as bar:
    for i in order:
      target = targets[i]
      bar.set_postfix_str(f'{target.name} (L={len(target)})')
      if max_length is not None and len(target) > max_length:
        bar.update(1)
        yield TargetOutcome(target, 'skipped', error=f'{len(target)} residues > --max-length '
                            f'{max_length}')
        continue
      try:
        raw = (raw_features or {}).get(target.name) or targets_lib.raw_features(target)
        samples = [predictor.predict(target, seed + k, raw) for k in range(num_samples)]
      except Exception as e:  # pylint: disable=broad-except  (isolation: report, go on)
        bar.update(1)
        yield TargetOutcome(target, 'failed', error=describe_failure(e))
        continue
      bar.update(1)
      yield TargetOutcome(target, 'ok', TargetResult(target=target, samples=samples,
                                                     ranking=rank_samples(samples)))


def describe_failure(error: BaseException) -> str:
  """One line for a failed target; XLA's out-of-memory errors are named as such."""
  text = one_line(error)
  if isinstance(error, (UserError, ValueError)):
    return text
  if isinstance(error, MemoryError) or 'RESOURCE_EXHAUSTED' in text or 'allocat' in text:
    return (f'out of memory while running the model ({type(error).__name__}: {text[:200]}); '
            'try --max-length or a machine with more memory')
  return f'{type(error).__name__}: {text[:300]}'


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
