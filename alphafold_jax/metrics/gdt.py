"""GDT (global distance test, Zemla 2003 / LGA): GDT-TS and GDT-HA.

  GDT_c = max over superpositions of (#aligned residues with d_i < c) / L_ref
  GDT-TS = mean(GDT_1, GDT_2, GDT_4, GDT_8);  GDT-HA = mean(GDT_0.5, GDT_1, GDT_2, GDT_4)

Each cutoff is maximised separately (as LGA does), by seeded iterative search with
re-selection at that cutoff (see superposition_search.py); every superposition
visited is scored for every cutoff. Values in [0, 1] (multiply by 100 for the
CASP percentage scale).

Shapes: N = aligned positions. predicted, reference: [N, 3] (CA); mask: [N].
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from alphafold_jax.metrics import superposition_search

GDT_TS_CUTOFFS = (1., 2., 4., 8.)
GDT_HA_CUTOFFS = (0.5, 1., 2., 4.)


def gdt_fractions(predicted, reference, mask=None, cutoffs: Sequence[float] = GDT_TS_CUTOFFS,
                  norm_length: Optional[float] = None, n_iter: int = 20,
                  max_starts: int = 64) -> np.ndarray:
  """Best fraction of residues under each cutoff, [len(cutoffs)] in [0, 1]."""
  predicted = np.asarray(predicted, np.float32)
  reference = np.asarray(reference, np.float32)
  mask = np.ones(predicted.shape[:-1], bool) if mask is None else np.asarray(mask).astype(bool)
  n_aligned = int(mask.sum())
  if n_aligned == 0:
    raise ValueError('gdt: no aligned residues (mask is empty)')
  length = float(n_aligned if norm_length is None else norm_length)
  cut = np.asarray(cutoffs, np.float64)

  def eval_fn(dist, m):  # [S, N], [N] -> [S, K]
    under = (dist[:, :, None] < cut) & m[None, :, None]  # [S, N, K]
    return np.sum(under, axis=1) / length

  best, _ = superposition_search.search(
      predicted, reference, mask, list(cutoffs), eval_fn, n_iter=n_iter, max_starts=max_starts)
  return np.asarray(best)


def gdt_ts(predicted, reference, mask=None, norm_length: Optional[float] = None,
           **kw) -> float:
  """GDT-TS in [0, 1]."""
  fractions = gdt_fractions(predicted, reference, mask, GDT_TS_CUTOFFS, norm_length, **kw)
  return float(np.mean(fractions))


def gdt_ha(predicted, reference, mask=None, norm_length: Optional[float] = None,
           **kw) -> float:
  """GDT-HA (high accuracy) in [0, 1]."""
  fractions = gdt_fractions(predicted, reference, mask, GDT_HA_CUTOFFS, norm_length, **kw)
  return float(np.mean(fractions))
