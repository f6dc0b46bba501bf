"""pLDDT loss (Jumper et al. 2021, Suppl. Sec. 1.9.6, Alg. 29 "predictPerResidueLDDT_Ca").

Targets: per-residue lDDT-Ca of the predicted CA positions against the true ones (15 A
inclusion radius, thresholds 0.5/1/2/4 A), discretised into as many equal bins as the logits have (AF2: 50)
on [0, 1]; loss = masked mean cross entropy, zeroed outside the resolution window.
Shapes: N = residues, B = bins.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from alphafold_jax.losses._keys import lookup
from alphafold_jax.metrics.lddt import lddt  # AF2's lDDT definition (Suppl. Alg. 29 target)
from alphafold_jax.losses._utils import resolution_weight, softmax_cross_entropy
from alphafold_jax.losses.config import LossConfig


def lddt_bins(lddt_values: jnp.ndarray, num_bins: int) -> jnp.ndarray:
  """Bin index floor(lddt * num_bins), clipped to num_bins - 1 (lddt == 1)."""
  return jnp.minimum(jnp.floor(lddt_values * num_bins).astype(jnp.int32), num_bins - 1)


def lddt_ca_targets(pred_ca: jnp.ndarray, true_ca: jnp.ndarray, ca_mask: jnp.ndarray,
                    cutoff: float = 15.) -> jnp.ndarray:
  """Per-residue lDDT-Ca [N] of pred_ca [N, 3] against true_ca [N, 3]; no gradient."""
  return jax.lax.stop_gradient(lddt(pred_ca, true_ca, ca_mask, cutoff=cutoff, per_residue=True))


def plddt_cross_entropy(logits: jnp.ndarray, pred_ca: jnp.ndarray, true_ca: jnp.ndarray,
                        ca_mask: jnp.ndarray, cutoff: float = 15.) -> jnp.ndarray:
  """logits [N, B]; pred_ca, true_ca [N, 3]; ca_mask [N]. Targets carry no gradient."""
  lddt_ca = lddt_ca_targets(pred_ca, true_ca, ca_mask, cutoff)  # [N]
  labels = jax.nn.one_hot(lddt_bins(lddt_ca, logits.shape[-1]), logits.shape[-1])  # [N, B]
  errors = softmax_cross_entropy(logits, labels)                                   # [N]
  ca_mask = jnp.asarray(ca_mask, jnp.float32)
  return jnp.sum(errors * ca_mask) / (jnp.sum(ca_mask) + 1e-8)


def predicted_ca_positions(predictions: Mapping) -> jnp.ndarray:
  """CA [N, 3] from 'final_atom_positions' (atom37) or 'final_atom14_positions'.

  CA is slot 1 in both atom37 and atom14.
  """
  sm = lookup(predictions, 'structure_module')
  key = 'final_atom_positions' if 'final_atom_positions' in sm else 'final_atom14_positions'
  return lookup(sm, key, what="predictions['structure_module']")[:, 1]


def plddt_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
               config: LossConfig = LossConfig()):
  """predictions['predicted_lddt']['logits'] [N, B] + structure-module positions;
  batch all_atom_positions [N, 37, 3], all_atom_mask [N, 37], resolution."""
  logits = lookup(predictions, 'predicted_lddt', 'logits')
  true_pos = lookup(batch, 'all_atom_positions', what='batch')
  ca_mask = lookup(batch, 'all_atom_mask', what='batch')[:, 1]
  pred_ca = predicted_ca_positions(predictions)
  loss = plddt_cross_entropy(logits, pred_ca, true_pos[:, 1], ca_mask, cutoff=config.plddt_cutoff)
  if config.filter_by_resolution:
    loss = loss * resolution_weight(lookup(batch, 'resolution', what='batch'),
                                    config.min_resolution, config.max_resolution)
  lddt_ca = lddt(jax.lax.stop_gradient(pred_ca), true_pos[:, 1], ca_mask,
                 cutoff=config.plddt_cutoff)
  return loss, {'plddt_loss': loss, 'lddt_ca': lddt_ca}
