"""Periodic evaluation on validation structures: CA-RMSD, lDDT-Ca, TM-score.

The model side is a per-example predictor supplied by the preset:
    predict_ca(params, example, rng) -> predicted CA positions [N_res, 3] (angstrom)
`example` is a feature dict without batch axis; the reference comes from the same
example's AF2 label keys `all_atom_positions` [N_res, 37, 3] and `all_atom_mask`
[N_res, 37] (CA = atom37 index 1), restricted by `seq_mask` [N_res] when present.
Metrics come from alphafold_jax.metrics (Kabsch CA-RMSD, lDDT-Ca with 15 A radius,
TM-score with superposition search, normalised by the number of resolved CA).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import jax
import numpy as np

# Import the functions from their submodules: the package attributes `rmsd`, `lddt`,
# `tm_score` are rebound to the submodules whenever one is imported by path.
from alphafold_jax.metrics.lddt import lddt as lddt_fn
from alphafold_jax.metrics.rmsd import rmsd as rmsd_fn
from alphafold_jax.metrics.tm_score import tm_score as tm_score_fn

CA = 1  # atom37 index of CA

PredictFn = Callable[[Any, Mapping[str, np.ndarray], Any], Any]


def reference_ca(example: Mapping[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
  """(CA positions [N, 3], CA mask [N]) from an example's atom37 labels."""
  for key in ('all_atom_positions', 'all_atom_mask'):
    if key not in example:
      raise KeyError(f'evaluation needs label {key!r} in the validation example; '
                     f'have {sorted(example)}')
  pos = np.asarray(example['all_atom_positions'], np.float32)[:, CA]  # [N, 3]
  mask = np.asarray(example['all_atom_mask'], np.float32)[:, CA]  # [N]
  if 'seq_mask' in example:
    mask = mask * np.asarray(example['seq_mask'], np.float32)
  return pos, mask


def structure_metrics(pred_ca, true_ca, mask) -> Dict[str, float]:
  """CA-RMSD (A, Kabsch), lDDT-Ca and TM-score of one prediction."""
  pred_ca = np.asarray(pred_ca, np.float32)
  true_ca = np.asarray(true_ca, np.float32)
  mask = np.asarray(mask, np.float32)
  if pred_ca.shape != true_ca.shape:
    raise ValueError(f'prediction {pred_ca.shape} and reference {true_ca.shape} CA shapes differ')
  if mask.sum() < 3:
    raise ValueError('structure_metrics: fewer than 3 resolved CA atoms')
  return {
      'ca_rmsd': float(rmsd_fn(pred_ca, true_ca, mask)),
      'lddt_ca': float(lddt_fn(pred_ca, true_ca, mask)),
      'tm_score': float(tm_score_fn(pred_ca, true_ca, mask > 0)),
  }


class Evaluator:
  """Runs a jitted per-example CA predictor on validation examples and scores it."""

  def __init__(self, predict_ca: PredictFn, examples: Sequence[Mapping[str, np.ndarray]],
               names: Sequence[str] | None = None, seed: int = 0):
    if not examples:
      raise ValueError('Evaluator: no validation examples')
    self._predict = jax.jit(predict_ca)
    self.examples = list(examples)
    self.names = list(names) if names is not None else [f'val{i}' for i in range(len(examples))]
    if len(self.names) != len(self.examples):
      raise ValueError('Evaluator: names and examples differ in length')
    self._rng = jax.random.PRNGKey(seed)

  def __call__(self, params: Any) -> Tuple[Dict[str, float], List[Dict[str, Any]]]:
    """Returns (mean metrics over structures, per-structure rows)."""
    rows = []
    for i, (name, example) in enumerate(zip(self.names, self.examples)):
      features = {k: v for k, v in example.items()}
      pred = np.asarray(jax.device_get(
          self._predict(params, features, jax.random.fold_in(self._rng, i))))
      true_ca, mask = reference_ca(example)
      row = {'name': name, 'num_res': int(mask.sum())}
      row.update(structure_metrics(pred, true_ca, mask))
      rows.append(row)
    means = {k: float(np.mean([r[k] for r in rows])) for k in ('ca_rmsd', 'lddt_ca', 'tm_score')}
    return means, rows
