"""Heuristic search for the superposition maximising a superposition-dependent score.

TM-score and GDT are maxima over all rigid superpositions; like Zhang & Skolnick's
TM-score program (and LGA for GDT) we approximate the maximum by local search:

  1. seeds: Kabsch on all aligned residues and on contiguous fragments (over the
     aligned residues) of lengths L/2, L/4, ... and 4 (start positions subsampled
     to at most `max_starts` per length);
  2. iterate: superpose, score, then re-select the residues within the selection
     cutoff of their target (widened to the 3 closest) and superpose on those;
     stop when no selection changes or after `n_iter` rounds.

Every superposition visited is scored; the maximum per score column is returned.
All seeds run at once as one batch. This runs on the host in NumPy (through the
same Kabsch code as geometry.alignment) because it is a discrete search, not a
differentiable quantity, and NumPy avoids compiling for every new shape.
The result is a lower bound of the true maximum.

Shapes: N = aligned positions, S = seeds, K = score columns.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from alphafold_jax.geometry.alignment import kabsch_arrays
from alphafold_jax.geometry.rigid import Rigid

# eval_fn(distances [S, N] float64, mask [N] bool) -> scores [S, K] (higher is better).
EvalFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def seed_masks(mask: np.ndarray, min_len: int = 4, max_starts: int = 64) -> np.ndarray:
  """All-residue seed + contiguous fragments of the True entries of mask [N] -> bool [S, N]."""
  mask = np.asarray(mask).astype(bool)
  idx = np.nonzero(mask)[0]
  n_ali = len(idx)
  lengths = []
  length = n_ali // 2
  while length >= min_len:
    lengths.append(length)
    length //= 2
  if n_ali > min_len and (not lengths or lengths[-1] != min_len):
    lengths.append(min_len)
  seeds = [mask.copy()]
  for length in lengths:
    n_starts = n_ali - length + 1
    starts = np.unique(np.linspace(0, n_starts - 1, min(n_starts, max_starts)).round().astype(int))
    for s in starts:
      seed = np.zeros_like(mask)
      seed[idx[s:s + length]] = True
      seeds.append(seed)
  return np.stack(seeds)  # [S, N]


def _select(dist: np.ndarray, mask: np.ndarray, cutoff: float, min_count: int = 3) -> np.ndarray:
  """Residues with dist < cutoff, widened to the `min_count` closest. [S, N] -> bool [S, N]."""
  big = np.where(mask[None, :], dist, np.inf)  # [S, N]
  k = min(min_count, int(mask.sum())) - 1
  kth = np.partition(big, k, axis=-1)[:, k:k + 1]  # [S, 1]
  return mask[None, :] & ((dist < cutoff) | (dist <= kth))


def _superpose_all(mobile: np.ndarray, target: np.ndarray, sel: np.ndarray):
  """Kabsch per selection: [N, 3], [N, 3], bool [S, N] -> (rot [S,3,3], trans [S,3], dist [S,N])."""
  rot, trans = kabsch_arrays(np, mobile[None], target[None], sel.astype(np.float64))
  moved = np.einsum('sij,nj->sni', rot, mobile) + trans[:, None, :]  # [S, N, 3]
  dist = np.sqrt(np.sum(np.square(moved - target[None]), -1))  # [S, N]
  return rot, trans, dist


def search(mobile, target, mask, select_cutoffs: Sequence, eval_fn: EvalFn,
           n_iter: int = 20, max_starts: int = 64) -> tuple[np.ndarray, Rigid]:
  """Max over visited superpositions of eval_fn columns.

  mobile, target: [N, 3] corresponding points (mobile is moved), mask: [N].
  select_cutoffs: one search per entry; an entry is a cutoff c or a pair
  (c_first, c_rest): the selection after a seed uses c_first, later ones c_rest (the
  TM-score program uses (d0_search - 1, d0_search + 1)).
  Returns (best scores [K], the Rigid (NumPy arrays) mapping mobile onto target
  that achieves the best column 0).
  """
  mobile = np.asarray(mobile, np.float64)
  target = np.asarray(target, np.float64)
  mask = np.asarray(mask).astype(bool)
  if mobile.shape != target.shape or mobile.ndim != 2 or mobile.shape[-1] != 3:
    raise ValueError(f'expected matching [N, 3] coordinates, got {mobile.shape} and {target.shape}')
  if mask.shape != mobile.shape[:1]:
    raise ValueError(f'mask shape {mask.shape} does not match {mobile.shape[:1]}')
  if not mask.any():
    raise ValueError('no aligned positions to superpose')
  seeds = seed_masks(mask, max_starts=max_starts)  # [S, N]

  best = None
  best_rigid = None
  for cutoffs in select_cutoffs:
    first, rest = (cutoffs, cutoffs) if np.ndim(cutoffs) == 0 else cutoffs
    sel = seeds
    for it in range(n_iter):
      rot, trans, dist = _superpose_all(mobile, target, sel)
      scores = np.asarray(eval_fn(dist, mask))  # [S, K]
      top = int(np.argmax(scores[:, 0]))
      if best is None or scores[top, 0] > best[0]:
        best_rigid = Rigid(rot=rot[top].astype(np.float32), trans=trans[top].astype(np.float32))
      cand = scores.max(axis=0)
      best = cand if best is None else np.maximum(best, cand)
      new_sel = _select(dist, mask, float(first if it == 0 else rest))
      if np.array_equal(new_sel, sel):
        break
      sel = new_sel
  return best, best_rigid
