"""Torsion-angle (chi) loss with pi-periodic alternatives and the angle-norm term
(Jumper et al. 2021, Suppl. Alg. 27 "torsionAngleLoss").

DISCREPANCY: like DeepMind's code, only the 4 side-chain chi angles are supervised (the
paper's Alg. 27 sums over all 7 torsions incl. omega, phi, psi); the angle-norm term covers
all 7 predicted torsions. Weights (chi 0.5, angle norm 0.01) are DeepMind's, see config.py.
Shapes: K = structure-module layers, N = residues.
"""

from __future__ import annotations

from typing import Mapping

import jax.numpy as jnp

from alphafold_jax.common import residue_constants
from alphafold_jax.losses._keys import lookup
from alphafold_jax.losses._utils import masked_mean
from alphafold_jax.losses.config import LossConfig


def chi_pi_periodic_for(aatype: jnp.ndarray) -> jnp.ndarray:
  """[N] residue types -> [N, 4] 1.0 where that chi is pi-periodic (ASP chi2, GLU chi3, ...)."""
  table = jnp.asarray(residue_constants.chi_pi_periodic, jnp.float32)  # [21, 4]
  return jnp.take(table, aatype, axis=0, mode='clip')


def chi_angle_error(pred_sin_cos: jnp.ndarray, true_sin_cos: jnp.ndarray,
                    chi_mask: jnp.ndarray, chi_pi_periodic: jnp.ndarray) -> jnp.ndarray:
  """Masked mean squared (sin, cos) error, min over the pi-shifted truth (Alg. 27 l.2-4).

  pred_sin_cos [K, N, 4, 2] or [N, 4, 2] (normalised), true_sin_cos [N, 4, 2] (sin, cos),
  chi_mask [N, 4], chi_pi_periodic [N, 4]. Averaged over layers as well.
  """
  shift = (1. - 2. * chi_pi_periodic)[..., None]                          # [N, 4, 1]
  err = jnp.sum(jnp.square(true_sin_cos - pred_sin_cos), -1)              # [(K,) N, 4]
  err_alt = jnp.sum(jnp.square(shift * true_sin_cos - pred_sin_cos), -1)  # [(K,) N, 4]
  return masked_mean(jnp.asarray(chi_mask, jnp.float32), jnp.minimum(err, err_alt))


def angle_norm_error(unnormalized_sin_cos: jnp.ndarray, seq_mask: jnp.ndarray) -> jnp.ndarray:
  """Mean |sqrt(sin^2 + cos^2 + 1e-6) - 1| over residues (and all torsions, layers), Alg. 27 l.5."""
  norm = jnp.sqrt(jnp.sum(jnp.square(unnormalized_sin_cos), -1) + 1e-6)  # [(K,) N, 7]
  return masked_mean(jnp.asarray(seq_mask, jnp.float32)[:, None], jnp.abs(norm - 1.))


def true_chi_sin_cos(batch: Mapping[str, jnp.ndarray]) -> jnp.ndarray:
  """[N, 4, 2] (sin, cos) from 'chi_angles_sin_cos' or 'chi_angles' (radians)."""
  if 'chi_angles_sin_cos' in batch:
    return jnp.asarray(batch['chi_angles_sin_cos'], jnp.float32)
  chi = jnp.asarray(lookup(batch, 'chi_angles', what='batch'), jnp.float32)  # [N, 4]
  return jnp.stack([jnp.sin(chi), jnp.cos(chi)], axis=-1)


def supervised_chi_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                        config: LossConfig = LossConfig()):
  """chi_weight * chi error + angle_norm_weight * angle-norm error.

  predictions['structure_module']['sidechains']: 'angles_sin_cos' and
  'unnormalized_angles_sin_cos' [K, N, 7, 2] (or [N, 7, 2]); batch aatype, seq_mask,
  chi_mask [N, 4] and chi_angles_sin_cos [N, 4, 2] (or chi_angles [N, 4]).
  """
  sc = lookup(predictions, 'structure_module', 'sidechains')
  angles = lookup(sc, 'angles_sin_cos', what="predictions['structure_module']['sidechains']")
  unnormalized = lookup(sc, 'unnormalized_angles_sin_cos',
                        what="predictions['structure_module']['sidechains']")
  aatype = lookup(batch, 'aatype', what='batch')
  chi = chi_angle_error(angles[..., 3:, :], true_chi_sin_cos(batch),
                        lookup(batch, 'chi_mask', what='batch'), chi_pi_periodic_for(aatype))
  norm = angle_norm_error(unnormalized, lookup(batch, 'seq_mask', what='batch'))
  loss = config.chi_weight * chi + config.angle_norm_weight * norm
  return loss, {'chi_loss': chi, 'angle_norm_loss': norm}
