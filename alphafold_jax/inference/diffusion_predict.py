"""Backbone prediction with the SE(3) frame-diffusion model (`predict --preset nano_diffusion`).

    config = diffusion_config('nano_diffusion')                  # config/presets.py
    params, source = load_params(config, 'nano_diffusion', params_path=None)  # bundled weights
    predictor = DiffusionPredictor(config, params)
    result = predictor.predict(target, num_samples=5, seed=0)   # DiffusionResult
    files = write_target(directory, result, extra={'preset': 'nano_diffusion'})

Sampling: sample k of a target uses the key `PRNGKey(seed + k)` (as the other presets' seeds
S..S+K-1): the single-sequence trunk, then the reverse SE(3) sampler (`model.diffusion.trunk.
predict`: one lax.scan of `sampler.num_steps` denoiser steps from the prior), then the atoms,
all in ONE jitted function per length bucket (targets are padded to a bucket as in
inference/predict.py; padded residues are masked). Same seed -> bitwise-same output.

Atoms: N, CA, C, O and CB (not for Gly or X) from the sampled frames with AF2's idealised
geometry (`model.diffusion.backbone.frames_to_atom37`): N, CA, C, CB from the backbone rigid
group; O from AF2's psi group with psi computed from the next residue's N (the C-terminal
residue reuses its predecessor's psi). No side chains beyond CB, no OXT.

Ranking (self-consistency): for every sample, the mean CA-RMSD (Kabsch-superposed,
metrics/rmsd.py) to the other samples of the same target; lower is better, so the medoid of
the samples ranks first (ties: lower sample index). With one sample it is the only one (score
0). Also reported: the mean lDDT-Ca and TM-score of each sample against the others
(metrics/lddt.py, metrics/tm_score.py; lDDT of sample i with sample j as reference). The
B-factor column holds each residue's mean lDDT-Ca to the other samples x 100 (0 with one
sample): agreement across samples, not a learned confidence.

Files per target NAME (the layout of inference/outputs.py): NAME.pdb / NAME.cif = the best
(first-ranked) sample; with K > 1 samples also NAME.sample_<k>.pdb / .cif for every sample k;
NAME.ranking.json (metric, order, per-sample scores, pairwise matrices).

Memory: before a bucket's program first runs, XLA's buffer assignment of the compiled program
is checked against the available memory (inference/memory.py); a target that does not fit is
refused with `MemoryEstimateError` naming the need (the model has no length limit of its own;
it was trained on crops of 80 residues).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.inference import memory, outputs, weights
from alphafold_jax.inference.predict import PredictionError, bucket_length
from alphafold_jax.inference.targets import Target
from data_pipeline.raw_features import sequence_to_aatype
from data_pipeline.transforms import DEFAULT_BUCKETS

log = logging.getLogger(__name__)

RANKING_METRIC = 'mean_ca_rmsd_to_other_samples'
DEFAULT_NUM_SAMPLES = 5
_CA = 1  # atom37 index of CA
_PROBE_LENGTH = 9  # parameter shapes do not depend on the length


def model_example(sequence: str, num_res: Optional[int] = None) -> Dict[str, np.ndarray]:
  """The model's inputs for `sequence` padded to num_res: aatype, residue_index, seq_mask [num_res]
  (residues numbered 0..L-1 as in training; padding: aatype 0, seq_mask 0)."""
  n = len(sequence)
  num_res = n if num_res is None else int(num_res)
  if num_res < n:
    raise ValueError(f'sequence of {n} residues does not fit {num_res}')
  aatype = np.zeros((num_res,), np.int32)
  aatype[:n] = sequence_to_aatype(sequence)
  seq_mask = np.zeros((num_res,), np.float32)
  seq_mask[:n] = 1.
  return {'aatype': aatype, 'residue_index': np.arange(num_res, dtype=np.int32),
          'seq_mask': seq_mask}


@functools.lru_cache(maxsize=4)
def expected_param_shapes(config):
  """{scope: {name: ShapeDtypeStruct}} of the diffusion model of `config` (no compute)."""
  import jax  # pylint: disable=import-outside-toplevel
  from alphafold_jax.model.diffusion.trunk import make_model  # pylint: disable=import-outside-toplevel
  example = model_example('A' * _PROBE_LENGTH)
  return jax.eval_shape(make_model(config).init, jax.random.PRNGKey(0), example)


def load_params(config, preset: str, params_path: Optional[str] = None,
                checkpoint: Optional[str] = None) -> Tuple[dict, str]:
  """(params, source): --params FILE.npz, --checkpoint DIR or the bundled
  `weights/<preset>.npz`, checked entry by entry against the model (ParamsError)."""
  return weights.load_params(config, params_path, checkpoint,
                             expected=expected_param_shapes(config), preset=preset)


@functools.lru_cache(maxsize=4)
def jitted_sampler(config):
  """jit of (params, example, key) -> (atom37 positions [N, 37, 3], atom mask [N, 37]) for ONE
  sample: trunk + reverse sampler + atoms. Cached per config (a frozen dataclass), so every
  predictor of a config in this process shares jax's trace and executable caches."""
  # pylint: disable=import-outside-toplevel
  import jax
  from alphafold_jax.model.diffusion import backbone, trunk
  model = trunk.make_model(config)

  def sample_atoms(params, example, key):
    frames = trunk.predict(model, config, params, example, key)['frames'][0]  # Rigid [N]
    return backbone.frames_to_atom37(frames, example['aatype'], example['seq_mask'])

  return jax.jit(sample_atoms)


@dataclasses.dataclass(frozen=True)
class DiffusionSample:
  """One backbone sample of one target (L residues)."""
  seed: int
  atom_positions: np.ndarray  # [L, 37, 3] angstrom
  atom_mask: np.ndarray  # [L, 37]
  bucket: int

  @property
  def ca(self) -> np.ndarray:
    return self.atom_positions[:, _CA]  # [L, 3]


@dataclasses.dataclass(frozen=True)
class DiffusionResult:
  """The samples of one target, their self-consistency scores and order (best first)."""
  target: Target
  samples: List[DiffusionSample]
  scores: Dict[str, np.ndarray]  # see `self_consistency`
  ranking: List[int]

  @property
  def best(self) -> DiffusionSample:
    return self.samples[self.ranking[0]]


def self_consistency(ca: np.ndarray) -> Dict[str, np.ndarray]:
  """Agreement of K samples' CA traces ca [K, L, 3]:

    pairwise_ca_rmsd [K, K]   Kabsch CA-RMSD (angstrom), symmetric, 0 on the diagonal
    pairwise_lddt_ca [K, K]   lDDT-Ca of sample i with sample j as reference (1 on the diagonal)
    pairwise_tm      [K, K]   TM-score between samples i and j, symmetric (1 on the diagonal)
    score            [K]      mean pairwise_ca_rmsd to the other samples (the ranking score)
    mean_lddt_ca, mean_tm [K] the same means of the other two matrices
    residue_lddt_ca  [K, L]   per-residue lDDT-Ca, mean over the other samples
  With K = 1 the means are 0 (RMSD) and 0 (lDDT, TM: nothing to agree with).
  """
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.metrics.lddt import lddt
  from alphafold_jax.metrics.rmsd import rmsd
  from alphafold_jax.metrics.tm_score import tm_score
  ca = np.asarray(ca, np.float32)
  k, n = ca.shape[:2]
  mobile = np.broadcast_to(ca[:, None], (k, k, n, 3))  # [K, K, L, 3] sample i
  reference = np.broadcast_to(ca[None, :], (k, k, n, 3))  # [K, K, L, 3] sample j
  pair_rmsd = np.asarray(rmsd(mobile, reference), np.float64)  # [K, K]
  pair_rmsd = 0.5 * (pair_rmsd + pair_rmsd.T)
  np.fill_diagonal(pair_rmsd, 0.)
  residue_lddt = np.asarray(lddt(mobile, reference, per_residue=True), np.float64)  # [K, K, L]
  pair_lddt = np.asarray(lddt(mobile, reference), np.float64)  # [K, K]
  pair_tm = np.eye(k)
  for i in range(k):
    for j in range(i + 1, k):  # equal lengths, all aligned: TM(i onto j) = TM(j onto i)
      pair_tm[i, j] = pair_tm[j, i] = tm_score(ca[i], ca[j])
  others = 1. - np.eye(k)  # [K, K]
  denom = max(k - 1, 1)
  return {
      'pairwise_ca_rmsd': pair_rmsd, 'pairwise_lddt_ca': pair_lddt, 'pairwise_tm': pair_tm,
      'score': (pair_rmsd * others).sum(1) / denom,
      'mean_lddt_ca': (pair_lddt * others).sum(1) / denom,
      'mean_tm': (pair_tm * others).sum(1) / denom,
      'residue_lddt_ca': np.einsum('ij,ijl->il', others, residue_lddt) / denom,
  }


def rank_by_score(score: Sequence[float]) -> List[int]:
  """Sample indices by increasing self-consistency score (ties: lower index first)."""
  return sorted(range(len(score)), key=lambda i: (float(score[i]), i))


class DiffusionPredictor:
  """The diffusion model with its parameters, one jitted sampler per length bucket.

  available_bytes: memory the program may use (default `memory.available_bytes()`); a bucket
  whose compiled program needs more is refused (MemoryEstimateError)."""

  def __init__(self, config, params, buckets: Sequence[int] = DEFAULT_BUCKETS,
               available_bytes: Optional[int] = None):
    import jax  # pylint: disable=import-outside-toplevel
    sampler = dataclasses.replace(config.diffusion.sampler, num_samples=1,
                                  return_trajectory=False)
    self.config = dataclasses.replace(
        config, diffusion=dataclasses.replace(config.diffusion, sampler=sampler))
    self.params = jax.tree.map(np.asarray, params)
    self.buckets = tuple(sorted(int(b) for b in buckets))
    self.available_bytes = available_bytes
    self.compiled_buckets: List[int] = []
    self._refused: Dict[int, memory.MemoryEstimateError] = {}
    self._apply = jitted_sampler(self.config)

  @property
  def num_compiles(self) -> int:
    return len(self.compiled_buckets)

  def bucket_for(self, length: int) -> int:
    return bucket_length(length, self.buckets)

  def _check_memory(self, example: dict, bucket: int, target: Target) -> None:
    import jax  # pylint: disable=import-outside-toplevel
    if bucket in self._refused:
      raise self._refused[bucket].for_target(target.name, len(target))
    if bucket in self.compiled_buckets:
      return
    available = (memory.available_bytes() if self.available_bytes is None
                 else int(self.available_bytes))
    log.info('compiling for bucket %d (first target %s, length %d); compile #%d', bucket,
             target.name, len(target), self.num_compiles + 1)
    lowered = self._apply.lower(self.params, example, jax.random.PRNGKey(0))
    need = memory.compiled_bytes(lowered.compile())
    try:
      if need is not None:
        memory.check_fits(need, available, 'compiled estimate', bucket, target.name,
                          len(target))
    except memory.MemoryEstimateError as e:
      self._refused[bucket] = e
      raise
    self.compiled_buckets.append(bucket)

  def sample(self, target: Target, seed: int) -> DiffusionSample:
    """One backbone sample of `target` with key PRNGKey(seed), cut to the target's length."""
    import jax  # pylint: disable=import-outside-toplevel
    bucket = self.bucket_for(len(target))
    example = model_example(target.sequence, bucket)
    self._check_memory(example, bucket, target)
    positions, mask = self._apply(self.params, example, jax.random.PRNGKey(seed))
    n = len(target)
    positions = np.asarray(positions[:n], np.float32)
    mask = np.asarray(mask[:n], np.float32)
    bad = int(np.sum(~np.isfinite(positions[mask > 0.5])))
    if bad:
      raise PredictionError(f'target {target.name!r}: the sample of seed {seed} holds {bad} '
                            'non-finite coordinates; check the parameters')
    return DiffusionSample(seed=int(seed), atom_positions=positions, atom_mask=mask,
                           bucket=bucket)

  def predict(self, target: Target, num_samples: int, seed: int = 0) -> DiffusionResult:
    """`num_samples` samples (seeds seed..seed+K-1), scored and ranked (module docstring)."""
    if num_samples < 1:
      raise ValueError(f'--num-samples must be >= 1, got {num_samples}')
    samples = [self.sample(target, seed + k) for k in range(num_samples)]
    scores = self_consistency(np.stack([s.ca for s in samples]))
    return DiffusionResult(target=target, samples=samples, scores=scores,
                           ranking=rank_by_score(scores['score']))


def sample_to_protein(sequence: str, sample: DiffusionSample,
                      residue_lddt: np.ndarray) -> protein_lib.Protein:
  """Protein of one sample: chain A, residues 1..L, B-factor = residue_lddt [L] x 100."""
  n = len(sequence)
  b = np.round(100. * np.asarray(residue_lddt, np.float64), 2)  # [L]
  return protein_lib.Protein(
      aatype=sequence_to_aatype(sequence), atom_positions=sample.atom_positions,
      atom_mask=sample.atom_mask, residue_index=np.arange(1, n + 1, dtype=np.int32),
      chain_id=outputs.CHAIN_ID, b_factors=b[:, None] * (sample.atom_mask > 0.5))


def ranking_json(result: DiffusionResult, stems: Sequence[str],
                 extra: Optional[dict] = None) -> dict:
  """NAME.ranking.json: the ranking metric, order and every sample's scores."""
  s = result.scores
  rank_of = {k: r for r, k in enumerate(result.ranking)}
  several = len(result.samples) > 1
  samples = [{'sample': k, 'seed': sample.seed, 'rank': rank_of[k], 'file': f'{stems[k]}.pdb',
              RANKING_METRIC: round(float(s['score'][k]), 4),
              'mean_lddt_ca_to_other_samples': round(float(s['mean_lddt_ca'][k]), 4)
              if several else None,
              'mean_tm_to_other_samples': round(float(s['mean_tm'][k]), 4) if several else None}
             for k, sample in enumerate(result.samples)]
  return {
      'name': result.target.name,
      'sequence': result.target.sequence,
      'ranking_metric': RANKING_METRIC,
      'ranking_note': 'self-consistency: mean Kabsch CA-RMSD (angstrom) of each sample to the '
                      'other samples, lower is better (the medoid ranks first)',
      'order': [int(k) for k in result.ranking],
      'best_sample': int(result.ranking[0]),
      'best_file': f'{result.target.name}.pdb',
      'samples': samples,
      'pairwise_ca_rmsd': np.round(s['pairwise_ca_rmsd'], 3).tolist(),
      'pairwise_lddt_ca': np.round(s['pairwise_lddt_ca'], 4).tolist(),
      'pairwise_tm': np.round(s['pairwise_tm'], 4).tolist(),
      'bucket': int(result.best.bucket),
      **(extra or {}),
  }


def planned_files(name: str, num_samples: int) -> List[str]:
  """Every file `write_target` may write for target `name`."""
  stems = [name] + ([f'{name}.sample_{k}' for k in range(num_samples)] if num_samples > 1 else [])
  return [f'{stem}{suffix}' for stem in stems for suffix in ('.pdb', '.cif')] + [
      f'{name}.ranking.json']


def write_target(directory: str, result: DiffusionResult, extra: Optional[dict] = None
                 ) -> List[str]:
  """The files of one target (module docstring) into `directory`; returns their names."""
  name, sequence = result.target.name, result.target.sequence
  several = len(result.samples) > 1
  stems = [f'{name}.sample_{k}' if several else name for k in range(len(result.samples))]
  residue_lddt = result.scores['residue_lddt_ca']  # [K, L]
  if not several:
    residue_lddt = np.zeros_like(residue_lddt)
  files = []
  if several:
    for k, sample in enumerate(result.samples):
      files += outputs.write_structure_files(
          directory, stems[k], sample_to_protein(sequence, sample, residue_lddt[k]))
  best = result.ranking[0]
  files += outputs.write_structure_files(
      directory, name, sample_to_protein(sequence, result.samples[best], residue_lddt[best]))
  outputs.write_json(os.path.join(directory, f'{name}.ranking.json'),
                     ranking_json(result, stems, extra))
  return files + [f'{name}.ranking.json']
