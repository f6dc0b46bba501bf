"""Residue correspondence between a model and a reference structure (NumPy).

  index     same author residue number (and insertion code), as the TM-score program;
  sequence  global Needleman-Wunsch alignment of the two sequences (identity scoring);
  auto      by residue number when the numbered pairs cover at least half of the shorter
            chain with >= 90% identical residue types, else by sequence.
"""

from __future__ import annotations

import numpy as np

_UNK = 20  # residue type X never counts as a match


class AlignmentError(ValueError):
  """An unknown alignment method."""


def align_by_index(model, reference) -> tuple[np.ndarray, np.ndarray]:
  """Pairs (model_idx, ref_idx) with equal residue number + insertion code."""
  def keys(p):
    codes = p.insertion_codes if p.insertion_codes is not None else [''] * p.num_residues
    return [(int(r), str(c)) for r, c in zip(p.residue_index, codes)]
  ref_pos = {k: i for i, k in enumerate(keys(reference))}
  pairs = [(i, ref_pos[k]) for i, k in enumerate(keys(model)) if k in ref_pos]
  if not pairs:
    return np.zeros(0, int), np.zeros(0, int)
  a, b = zip(*pairs)
  return np.asarray(a), np.asarray(b)


def needleman_wunsch(seq_a: np.ndarray, seq_b: np.ndarray, match: float = 2.,
                     mismatch: float = -1., gap: float = -2.) -> tuple[np.ndarray, np.ndarray]:
  """Global alignment of integer sequences (linear gaps). Returns aligned index pairs.

  Row-vectorised: within a row, H[i, j] = max(c_j, H[i, j-1] + gap) is solved with a
  cumulative max, H[i, j] = j*gap + cummax_k<=j (c_k - k*gap).
  """
  n, m = len(seq_a), len(seq_b)
  h = np.zeros((n + 1, m + 1))
  h[0] = gap * np.arange(m + 1)
  h[:, 0] = gap * np.arange(n + 1)
  jj = np.arange(m + 1) * gap
  for i in range(1, n + 1):
    sub = np.where((seq_a[i - 1] == seq_b) & (seq_b != _UNK), match, mismatch)  # [m]
    cand = np.empty(m + 1)
    cand[0] = h[i, 0]
    cand[1:] = np.maximum(h[i - 1, :-1] + sub, h[i - 1, 1:] + gap)
    h[i] = jj + np.maximum.accumulate(cand - jj)
  # traceback
  pairs = []
  i, j = n, m
  while i > 0 and j > 0:
    s = match if (seq_a[i - 1] == seq_b[j - 1] and seq_b[j - 1] != _UNK) else mismatch
    if np.isclose(h[i, j], h[i - 1, j - 1] + s):
      pairs.append((i - 1, j - 1))
      i, j = i - 1, j - 1
    elif np.isclose(h[i, j], h[i - 1, j] + gap):
      i -= 1
    else:
      j -= 1
  pairs.reverse()
  if not pairs:
    return np.zeros(0, int), np.zeros(0, int)
  a, b = zip(*pairs)
  return np.asarray(a), np.asarray(b)


def correspond(model, reference, method: str = 'auto') -> tuple[np.ndarray, np.ndarray, str]:
  """(model indices, reference indices, method used) of corresponding residues."""
  if method not in ('auto', 'index', 'sequence'):
    raise AlignmentError(f'unknown alignment method {method!r} (auto, index or sequence)')
  if method in ('auto', 'index'):
    a, b = align_by_index(model, reference)
    if method == 'index':
      return a, b, 'residue_index'
    shorter = min(model.num_residues, reference.num_residues)
    identity = float(np.mean(model.aatype[a] == reference.aatype[b])) if len(a) else 0.
    if len(a) >= 0.5 * shorter and identity >= 0.9:
      return a, b, 'residue_index'
  a, b = needleman_wunsch(np.asarray(model.aatype), np.asarray(reference.aatype))
  return a, b, 'sequence'
