"""Confidence and bin maths shared by the heads, the losses and the metrics (pure jnp).

The one home of the bin layouts of AF2's output heads and of their post-processing
(Jumper et al. 2021, Suppl. Sec. 1.9.6-1.9.8):

  distogram bin edges   linspace(first_break, last_break, num_bins - 1)     [B - 1], angstrom
  PAE bin breaks        linspace(0, max_error_bin, num_bins - 1)            [B - 1], angstrom
  pLDDT                 expected bin centre of num_bins equal bins on [0, 1], x 100
  PAE / pTM             expected bin centre; expected TM-score maximised over frames (eq. 40)

Shapes: N = residues, B = bins. jit-, vmap- and grad-safe.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp


def distogram_bin_edges(first_break: float, last_break: float, num_bins: int) -> jnp.ndarray:
  """[B - 1] distogram bin edges in angstrom (the last bin is open-ended)."""
  return jnp.linspace(first_break, last_break, num_bins - 1)


def pae_breaks(max_error_bin: float, num_bins: int) -> jnp.ndarray:
  """[B - 1] PAE bin breaks in angstrom: 0.5 A wide up to max_error_bin, last bin open."""
  return jnp.linspace(0.0, max_error_bin, num_bins - 1)


def bin_centres(breaks: jnp.ndarray) -> jnp.ndarray:
  """[B - 1] equally spaced breaks -> [B] centres; the open last bin gets break + step/2."""
  step = breaks[1] - breaks[0]
  centres = breaks + step / 2  # [B - 1]
  return jnp.concatenate([centres, centres[-1:] + step])  # [B]


def compute_plddt(logits: jnp.ndarray) -> jnp.ndarray:
  """[..., N, B] logits -> [..., N] pLDDT in 0..100 (expected value of bin centres)."""
  num_bins = logits.shape[-1]
  centres = (jnp.arange(num_bins, dtype=jnp.float32) + 0.5) / num_bins  # [B]
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  return 100.0 * jnp.sum(probs * centres, axis=-1)


def compute_predicted_aligned_error(logits: jnp.ndarray, breaks: jnp.ndarray) -> dict:
  """PAE from logits [N, N, B] and breaks [B - 1].

  Returns 'aligned_confidence_probs' [N, N, B], 'predicted_aligned_error' [N, N] (angstrom,
  expected bin centre) and 'max_predicted_aligned_error' (scalar, the last bin centre).
  """
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  centres = bin_centres(breaks)
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
  tm_per_bin = 1.0 / (1.0 + jnp.square(bin_centres(breaks)) / jnp.square(d0))  # [B]
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
