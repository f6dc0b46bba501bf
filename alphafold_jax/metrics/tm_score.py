"""TM-score (Zhang & Skolnick 2004), as computed by the TM-score program.

  TM = max over superpositions of  (1 / L_ref) * sum_i 1 / (1 + (d_i / d0)^2)

over aligned residue pairs i (CA atoms), normalised by the reference length L_ref,
with d0 = 1.24 (L_ref - 15)^(1/3) - 1.8 (and d0 = 0.5 for L_ref <= 21; floor 0.5).
The maximum is searched from fragment seeds with iterative re-selection of the
residues within ~d0_search = clip(d0, 4.5, 8) A (see superposition_search.py).
Checked against TM-align (tmtools 0.3.0) on noisy / hinge-bent real chains: our value
is >= the fixed-alignment TM-score at TM-align's own superposition to within 5e-4.

AF2's pTM head (Suppl. 1.9.7) uses the same d0 formula (without the 0.5 floor and
the small-L rule) on predicted errors; that lives in the heads, not here.

Shapes: N = aligned positions. predicted, reference: [N, 3]; mask: [N].
NumPy or jnp inputs; returns Python floats.
"""

from __future__ import annotations

from typing import Optional

import jax.numpy as jnp
import numpy as np

from alphafold_jax.metrics import superposition_search


def tm_d0(length: float) -> float:
  """TM-score distance scale d0(L) in angstrom (TM-score program convention)."""
  length = float(length)
  if length <= 21:
    return 0.5
  return max(1.24 * (length - 15.) ** (1. / 3.) - 1.8, 0.5)


def tm_terms(dist, d0: float) -> jnp.ndarray:
  """Per-residue TM terms 1 / (1 + (d / d0)^2) for distances [..., N]."""
  return 1. / (1. + jnp.square(jnp.asarray(dist) / d0))


def tm_score_fixed(predicted, reference, mask=None, norm_length: Optional[float] = None) -> float:
  """TM-score of the CURRENT superposition (no search); pure jnp-friendly."""
  predicted = jnp.asarray(predicted, jnp.float32)
  reference = jnp.asarray(reference, jnp.float32)
  mask = jnp.ones(predicted.shape[:-1]) if mask is None else jnp.asarray(mask, jnp.float32)
  length = float(jnp.sum(mask)) if norm_length is None else float(norm_length)
  dist = jnp.sqrt(jnp.sum(jnp.square(predicted - reference), -1))
  return float(jnp.sum(mask * tm_terms(dist, tm_d0(length))) / max(length, 1.))


def tm_score(predicted, reference, mask=None, norm_length: Optional[float] = None,
             n_iter: int = 20, max_starts: int = 64, return_superposition: bool = False):
  """TM-score in (0, 1] after searching the best superposition of predicted onto reference.

  mask [N]: aligned pairs present in both. norm_length: L_ref (default: mask sum);
  give the full reference length when only part of the reference is aligned.
  With return_superposition=True also returns the Rigid mapping predicted onto
  reference that achieves it.
  """
  predicted = np.asarray(predicted, np.float32)
  reference = np.asarray(reference, np.float32)
  mask = np.ones(predicted.shape[:-1], bool) if mask is None else np.asarray(mask).astype(bool)
  n_aligned = int(mask.sum())
  if n_aligned == 0:
    raise ValueError('tm_score: no aligned residues (mask is empty)')
  length = float(n_aligned if norm_length is None else norm_length)
  if length < n_aligned:
    raise ValueError(f'tm_score: norm_length {length} < number of aligned residues {n_aligned}')
  d0 = tm_d0(length)
  d0_search = min(max(d0, 4.5), 8.)

  def eval_fn(dist, m):  # [S, N], [N] -> [S, 1]
    terms = 1. / (1. + np.square(dist / d0))  # [S, N]
    return (np.sum(np.where(m[None], terms, 0.), -1) / length)[:, None]

  # Selection cutoffs: the TM-score program's (d0_search - 1 after a seed, then
  # d0_search + 1), plus a plain d0_search pass.
  cutoffs = [(d0_search - 1., d0_search + 1.), d0_search]
  best, rigid = superposition_search.search(
      predicted, reference, mask, cutoffs, eval_fn, n_iter=n_iter, max_starts=max_starts)
  score = float(best[0])
  return (score, rigid) if return_superposition else score
