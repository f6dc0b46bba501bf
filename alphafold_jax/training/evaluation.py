"""Periodic evaluation on validation structures: CA-RMSD (mean and worst), lDDT-Ca, TM-score.

Validation structures go through the feature path of `alphafold-jax predict`, never the
training features: each whole chain is featurised from its sequence by the one example builder
(`Preset.make_eval_examples`, a `data_pipeline.examples.ExampleSet`) with the int seeds
seed, seed + 1, ... (the seeds of `predict --num-samples`), which also key the model:
    features = examples.build(i, s)    # process_features(raw, config, s) + labels
    predict_ca(params, features, PRNGKey(s)) -> predicted CA positions [N_res, 3] (angstrom)
The reference comes from the same example's AF2 label keys `all_atom_positions`
[N_res, 37, 3] and `all_atom_mask` [N_res, 37] (CA = atom37 index 1), restricted by
`seq_mask` [N_res]. Metrics come from alphafold_jax.metrics (Kabsch CA-RMSD, lDDT-Ca with
15 A radius, TM-score with superposition search, normalised by the number of resolved CA);
per structure: mean over seeds, and `ca_rmsd_worst`, the largest CA-RMSD of its seeds.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Tuple

import jax
import numpy as np

# Import the functions from their submodules: the package attributes `rmsd`, `lddt`,
# `tm_score` are rebound to the submodules whenever one is imported by path.
from alphafold_jax.metrics.lddt import lddt as lddt_fn
from alphafold_jax.metrics.rmsd import rmsd as rmsd_fn
from alphafold_jax.metrics.tm_score import tm_score as tm_score_fn

CA = 1  # atom37 index of CA
_METRICS = ('ca_rmsd', 'lddt_ca', 'tm_score')

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
  """Runs a jitted per-example CA predictor on validation structures and scores it."""

  def __init__(self, predict_ca: PredictFn, examples, seed: int = 0, num_seeds: int = 3):
    if not callable(getattr(examples, 'build', None)):
      raise ValueError('Evaluator featurises every structure afresh per seed: pass an ExampleSet '
                       '(Preset.make_eval_examples), not fixed feature dicts')
    if len(examples) == 0:
      raise ValueError('Evaluator: no validation examples')
    if num_seeds < 1:
      raise ValueError(f'Evaluator: num_seeds must be >= 1, got {num_seeds}')
    self._predict = jax.jit(predict_ca)
    self.examples = examples
    self.names = list(examples.names)
    self.seeds = [int(seed) + k for k in range(num_seeds)]

  def __call__(self, params: Any) -> Tuple[Dict[str, float], List[Dict[str, Any]]]:
    """Returns (mean metrics over structures, per-structure rows)."""
    rows = []
    for i, name in enumerate(self.names):
      per_seed = []
      for seed in self.seeds:
        example = self.examples.build(i, seed)
        pred = np.asarray(jax.device_get(
            self._predict(params, example, jax.random.PRNGKey(seed))))
        true_ca, mask = reference_ca(example)
        per_seed.append(structure_metrics(pred, true_ca, mask))
      row = {'name': name, 'num_res': int(mask.sum())}
      row.update({k: float(np.mean([m[k] for m in per_seed])) for k in _METRICS})
      row['ca_rmsd_worst'] = float(max(m['ca_rmsd'] for m in per_seed))
      rows.append(row)
    means = {k: float(np.mean([r[k] for r in rows]))
             for k in _METRICS + ('ca_rmsd_worst',)}
    return means, rows
