"""Ambiguous-atom renaming of the ground truth (Jumper et al. 2021, Suppl. Alg. 26
"renameSymmetricGroundTruthAtoms", Suppl. Table 3).

For residues with 180-degree-symmetric side chains (ASP, GLU, PHE, TYR, ARG, LEU, VAL) the
ground truth is given under both namings; per residue we keep the naming whose distances from
the ambiguous atoms to all non-ambiguous atoms agree best with the prediction.

Shapes: N = residues, 14 = atom14 slots.
"""

from __future__ import annotations

from typing import Dict, Mapping

import jax.numpy as jnp

from alphafold_jax.losses._keys import lookup


def _all_pair_dists(pos: jnp.ndarray) -> jnp.ndarray:
  """[N, 14, 3] -> [N, N, 14, 14] distances sqrt(1e-10 + d^2)."""
  diff = pos[:, None, :, None, :] - pos[None, :, None, :, :]  # [N, N, 14, 14, 3]
  return jnp.sqrt(1e-10 + jnp.sum(jnp.square(diff), axis=-1))


def find_optimal_renaming(
    atom14_gt_positions: jnp.ndarray, atom14_alt_gt_positions: jnp.ndarray,
    atom14_atom_is_ambiguous: jnp.ndarray, atom14_gt_exists: jnp.ndarray,
    atom14_pred_positions: jnp.ndarray) -> jnp.ndarray:
  """Suppl. Alg. 26 lines 1-5: 1.0 per residue [N] where the alternative naming is better.

  Score per residue = sum over (ambiguous atom of this residue, non-ambiguous atom anywhere)
  of |d_pred - d_gt|; the naming with the lower score wins (ties keep the original).
  """
  pred_d = _all_pair_dists(atom14_pred_positions)     # [N, N, 14, 14]
  gt_d = _all_pair_dists(atom14_gt_positions)         # [N, N, 14, 14]
  alt_d = _all_pair_dists(atom14_alt_gt_positions)    # [N, N, 14, 14]
  err = jnp.sqrt(1e-10 + jnp.square(pred_d - gt_d))   # [N, N, 14, 14]
  alt_err = jnp.sqrt(1e-10 + jnp.square(pred_d - alt_d))
  exists = atom14_gt_exists.astype(jnp.float32)
  ambiguous = atom14_atom_is_ambiguous.astype(jnp.float32)
  rows = exists * ambiguous                            # [N, 14] ambiguous atoms
  cols = exists * (1. - ambiguous)                     # [N, 14] reference atoms
  mask = rows[:, None, :, None] * cols[None, :, None, :]  # [N, N, 14, 14]
  score = jnp.sum(mask * err, axis=(1, 2, 3))          # [N]
  alt_score = jnp.sum(mask * alt_err, axis=(1, 2, 3))  # [N]
  return (alt_score < score).astype(jnp.float32)


def rename_by(alt_naming_is_better: jnp.ndarray, original: jnp.ndarray,
              alternative: jnp.ndarray) -> jnp.ndarray:
  """Per residue pick: original [N, ...] where 0, alternative [N, ...] where 1."""
  alt = jnp.asarray(alt_naming_is_better, jnp.float32)
  alt = jnp.reshape(alt, alt.shape + (1,) * (jnp.ndim(original) - alt.ndim))
  return (1. - alt) * original + alt * alternative


def compute_renamed_ground_truth(batch: Mapping[str, jnp.ndarray],
                                 atom14_pred_positions: jnp.ndarray) -> Dict[str, jnp.ndarray]:
  """Suppl. Alg. 26: renamed atom14 ground truth for all later losses.

  batch needs atom14_gt_positions, atom14_alt_gt_positions, atom14_atom_is_ambiguous,
  atom14_gt_exists, atom14_alt_gt_exists. Returns alt_naming_is_better [N],
  renamed_atom14_gt_positions [N, 14, 3], renamed_atom14_gt_exists [N, 14].
  """
  get = lambda k: lookup(batch, k, what='batch')
  alt = find_optimal_renaming(
      get('atom14_gt_positions'), get('atom14_alt_gt_positions'),
      get('atom14_atom_is_ambiguous'), get('atom14_gt_exists'), atom14_pred_positions)
  return {
      'alt_naming_is_better': alt,
      'renamed_atom14_gt_positions': rename_by(
          alt, get('atom14_gt_positions'), get('atom14_alt_gt_positions')),
      'renamed_atom14_gt_exists': rename_by(
          alt, jnp.asarray(get('atom14_gt_exists'), jnp.float32),
          jnp.asarray(get('atom14_alt_gt_exists'), jnp.float32)),
  }
