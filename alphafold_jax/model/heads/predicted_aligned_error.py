"""Predicted aligned error (PAE) head and pTM (Jumper et al. 2021, Suppl. Sec. 1.9.7).

Pair representation -> logits over 64 bins of the error of residue j's position when the
prediction is aligned on residue i's frame. Bin breaks: linspace(0, max_error_bin,
num_bins - 1) angstrom (0.5 A wide up to 31 A, last bin open). pTM is the expected TM-score
(Suppl. eq. 40) maximised over alignment frames, with TM-score's d0(N).

Shapes: N = residues, c_z = pair channels, B = num_bins.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.nn import Linear, final_init


@dataclasses.dataclass(frozen=True)
class PredictedAlignedErrorHeadConfig:
  """AF2 `heads.predicted_aligned_error` (model_*_ptm); num_channels is unused, as in AF2."""
  max_error_bin: float = 31.0
  num_bins: int = 64
  num_channels: int = 128
  filter_by_resolution: bool = True
  max_resolution: float = 3.0
  min_resolution: float = 0.1
  weight: float = 0.1

  def __post_init__(self):
    if self.num_bins < 3 or self.max_error_bin <= 0:
      raise ValueError('PredictedAlignedErrorHeadConfig: need num_bins >= 3 and '
                       f'max_error_bin > 0, got {self}')


def pae_breaks(config: PredictedAlignedErrorHeadConfig) -> jnp.ndarray:
  """[B - 1] bin breaks in angstrom."""
  return jnp.linspace(0.0, config.max_error_bin, config.num_bins - 1)


class PredictedAlignedErrorHead(hk.Module):
  """pair [N, N, c_z] -> {'logits': [N, N, B], 'breaks': [B - 1]}.

  logits[i, j]: error of residue j when aligned on the frame of residue i.
  """

  def __init__(self, config: PredictedAlignedErrorHeadConfig, global_config: GlobalConfig,
               name: str = 'predicted_aligned_error_head'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config

  def __call__(self, pair: jnp.ndarray) -> dict:
    if pair.ndim != 3 or pair.shape[0] != pair.shape[1]:
      raise ValueError(f'PredictedAlignedErrorHead expects pair [N, N, c_z], got {pair.shape}')
    init = final_init(self.gc)
    logits = Linear(self.c.num_bins, initializer=init, name='logits')(pair)  # [N, N, B]
    return {'logits': logits, 'breaks': pae_breaks(self.c)}


def _bin_centres(breaks: jnp.ndarray) -> jnp.ndarray:
  """[B - 1] equally spaced breaks -> [B] centres; the open last bin gets break + step/2."""
  step = breaks[1] - breaks[0]
  centres = breaks + step / 2  # [B - 1]
  return jnp.concatenate([centres, centres[-1:] + step])  # [B]


def compute_predicted_aligned_error(logits: jnp.ndarray, breaks: jnp.ndarray) -> dict:
  """PAE from logits [N, N, B] and breaks [B - 1].

  Returns 'aligned_confidence_probs' [N, N, B], 'predicted_aligned_error' [N, N] (angstrom,
  expected bin centre) and 'max_predicted_aligned_error' (scalar, the last bin centre).
  """
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  centres = _bin_centres(breaks)
  return {
      'aligned_confidence_probs': probs,
      'predicted_aligned_error': jnp.sum(probs * centres, axis=-1),
      'max_predicted_aligned_error': centres[-1],
  }


def tm_score_d0(num_res: jnp.ndarray) -> jnp.ndarray:
  """TM-score distance scale d0(N) = 1.24 (N - 15)^(1/3) - 1.8 with N clipped to >= 19.

  Yang & Skolnick 2004, eq. 5; the clip (as in AF2) keeps d0 positive for short chains.
  """
  n = jnp.maximum(num_res, 19)
  return 1.24 * (n - 15) ** (1.0 / 3) - 1.8


def predicted_tm_score(logits: jnp.ndarray, breaks: jnp.ndarray,
                       residue_weights: Optional[jnp.ndarray] = None,
                       asym_id: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """pTM (or ipTM with `asym_id`) from PAE logits [N, N, B] (Suppl. eq. 40-41).

  residue_weights [N] in [0, 1] (e.g. seq_mask); None = all ones. With asym_id [N] only
  inter-chain pairs count (AF2-Multimer's ipTM).
  """
  n = logits.shape[0]
  if residue_weights is None:
    residue_weights = jnp.ones((n,), jnp.float32)
  residue_weights = residue_weights.astype(jnp.float32)
  d0 = tm_score_d0(jnp.sum(residue_weights))
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)  # [N, N, B]
  tm_per_bin = 1.0 / (1.0 + jnp.square(_bin_centres(breaks)) / jnp.square(d0))  # [B]
  expected_tm = jnp.sum(probs * tm_per_bin, axis=-1)  # [N, N]
  if asym_id is None:
    pair_mask = jnp.ones((n, n), jnp.float32)
  else:
    pair_mask = (asym_id[:, None] != asym_id[None, :]).astype(jnp.float32)
  expected_tm = expected_tm * pair_mask
  pair_weights = pair_mask * residue_weights[None, :] * residue_weights[:, None]  # [N, N]
  normed = pair_weights / (1e-8 + jnp.sum(pair_weights, axis=-1, keepdims=True))
  per_alignment = jnp.sum(expected_tm * normed, axis=-1)  # [N] one value per frame i
  return jnp.max(per_alignment * residue_weights)
