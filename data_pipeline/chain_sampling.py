"""AF2's training-chain filters, sampling weights and source mixing (NumPy only).

Jumper et al. 2021, Suppl. 1.2.5 (filtering) and 1.3 (self-distillation):

Filters (deterministic; `filter_reason`, applied once when a dataset is validated):
  * resolution: structures solved at worse than MAX_RESOLUTION (9 A) are dropped. Entries
    without a resolution (NMR, predictions; stored as 0 as AF2 does) are kept: AF2 trains on
    NMR chains too -- the resolution window of its confidence losses exists to exclude them.
  * composition: a chain in which one residue type makes up more than
    MAX_SINGLE_RESIDUE_FRACTION (80 %) of the sequence is dropped.
Sampling weight of chain i (`chain_weights`):
    w_i = max(min(N_i, 512), 256) / 512  *  1 / |cluster(i)|
  N_i the chain length; |cluster(i)| the number of the dataset's chains in its sequence
  cluster (AF2: 40 % identity clusters; `read_clusters`), 1 when no clusters are given.
  DISCREPANCY: AF2 ACCEPTS a uniformly drawn chain with probability w_i (rejection
  sampling); here a slot draws chain i with probability w_i / sum(w), the same distribution
  of accepted chains, with a fixed number of random draws per slot.
Mixing (Suppl. 1.3): every slot first draws its source -- the self-distillation set with
probability `distillation_fraction` (AF2: 75 %), else the PDB set -- then a chain of that
source with the source's weights (`draw_slot`).

A slot's draw uses only np.random.default_rng([seed, SLOT_SALT, slot]), so the chain of
global slot g = step * batch_size + b is a pure function of (seed, g): exact resume, and each
host of a multi-host job can draw just its own slots.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from data_pipeline.errors import PipelineError

MAX_RESOLUTION = 9.0  # angstrom (Suppl. 1.2.5)
MAX_SINGLE_RESIDUE_FRACTION = 0.8  # Suppl. 1.2.5
LENGTH_WEIGHT_MIN, LENGTH_WEIGHT_MAX = 256, 512  # Suppl. 1.2.5: max(min(N, 512), 256) / 512
SLOT_SALT = 0x2F5A  # separates slot draws from the per-example seeds (seed, epoch, index)


class ClusterFileError(PipelineError):
  """A sequence-cluster file that cannot be read."""


def filter_reason(sequence: str, resolution: float) -> Optional[str]:
  """Why AF2's training filters drop this chain (Suppl. 1.2.5), or None when it is kept.
  resolution: angstrom, 0 when unknown (NMR, predicted structures: kept)."""
  if resolution > MAX_RESOLUTION:
    return f'resolution {resolution:g} A > {MAX_RESOLUTION:g} A'
  if sequence:
    residue, count = collections.Counter(sequence).most_common(1)[0]
    if count / len(sequence) > MAX_SINGLE_RESIDUE_FRACTION:
      return (f'residue type {residue} is {count / len(sequence):.0%} of the sequence '
              f'(> {MAX_SINGLE_RESIDUE_FRACTION:.0%})')
  return None


def length_weight(num_res) -> np.ndarray:
  """max(min(N, 512), 256) / 512 (Suppl. 1.2.5): 0.5 up to 256 residues, 1 from 512."""
  n = np.asarray(num_res, np.float64)
  return np.clip(n, LENGTH_WEIGHT_MIN, LENGTH_WEIGHT_MAX) / LENGTH_WEIGHT_MAX


def read_clusters(path: str | os.PathLike) -> Dict[str, int]:
  """{member name (upper case): cluster id} of a cluster file: one cluster per line, its
  members separated by spaces (the layout of the PDB's `clusters-by-entity-40.txt` and of
  MMseqs2 cluster lists). Members are matched to dataset entries by name (file stem),
  case-insensitively; a name on two lines is an error."""
  path = os.fspath(path)
  try:
    with open(path) as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise ClusterFileError(f'{path}: cannot read the cluster file ({e.strerror or e})') from None
  clusters: Dict[str, int] = {}
  for number, line in enumerate(lines, 1):
    for name in line.split():
      key = name.upper()
      if key in clusters:
        raise ClusterFileError(f'{path}:{number}: {name} is already in the cluster on line '
                               f'{clusters[key] + 1}')
      clusters[key] = number - 1
  if not clusters:
    raise ClusterFileError(f'{path}: no cluster members')
  return clusters


def cluster_sizes(names: Sequence[str], clusters: Optional[Mapping[str, int]] = None
                  ) -> np.ndarray:
  """[n] size of each entry's cluster counted over `names` (the chains that can be drawn);
  an entry absent from `clusters` (or no clusters) is a cluster of its own."""
  if not clusters:
    return np.ones(len(names), np.int64)
  ids = [clusters.get(name.upper(), ('own', i)) for i, name in enumerate(names)]
  counts = collections.Counter(ids)
  return np.asarray([counts[i] for i in ids], np.int64)


def chain_weights(num_res: Sequence[int], sizes: Optional[Sequence[int]] = None) -> np.ndarray:
  """[n] sampling probabilities: length_weight(N_i) / cluster_size_i, normalised to sum 1."""
  weights = length_weight(num_res)
  if sizes is not None:
    weights = weights / np.asarray(sizes, np.float64)
  if weights.size == 0 or not np.all(weights > 0):
    raise PipelineError('chain_weights: need at least one chain, every weight > 0')
  return weights / weights.sum()


@dataclasses.dataclass(frozen=True)
class WeightedSource:
  """One source of training chains: its chains' probabilities and its share of the slots."""
  probs: np.ndarray  # [n] sums to 1
  fraction: float  # share of slots drawn from this source

  def __post_init__(self):
    probs = np.asarray(self.probs, np.float64)
    if probs.ndim != 1 or probs.size == 0 or np.any(probs < 0) or not np.isclose(probs.sum(), 1):
      raise PipelineError('WeightedSource: probs must be a non-empty probability vector')
    if not 0 <= self.fraction <= 1:
      raise PipelineError(f'WeightedSource: fraction must be in [0, 1], got {self.fraction}')


def draw_slot(seed: int, slot: int, sources: Sequence[WeightedSource]) -> Tuple[int, int]:
  """(source index, chain index) of global slot `slot`: source ~ the sources' fractions,
  chain ~ that source's probs; a pure function of (seed, slot)."""
  rng = np.random.default_rng([int(seed), SLOT_SALT, int(slot)])
  fractions = np.asarray([s.fraction for s in sources], np.float64)
  u_source, u_chain = rng.random(2)
  source = _inverse_cdf(fractions, u_source)
  return source, _inverse_cdf(np.asarray(sources[source].probs, np.float64), u_chain)


def _inverse_cdf(weights: np.ndarray, u: float) -> int:
  """Index i with cdf[i-1] <= u * total < cdf[i], skipping zero-weight entries."""
  cdf = np.cumsum(weights)
  index = int(np.searchsorted(cdf, u * cdf[-1], side='right'))
  return min(index, len(weights) - 1)
