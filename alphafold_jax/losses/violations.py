"""Structural violations: combined checks, loss and AF2 metrics (Jumper et al. 2021,
Suppl. Sec. 1.9.11 "Structural violations", eq. 44-47).

L_viol = L_bondlength + L_bondangle + L_clash, where the bond terms are the three peptide-bond
means and the clash term sums between- and within-residue per-atom losses over the number of
existing atoms. Per-residue violation masks feed the AF2 violation metrics.
Shapes: N = residues, 14 = atom14 slots.
"""

from __future__ import annotations

from typing import Dict, Mapping

import jax
import jax.numpy as jnp

from alphafold_jax.losses._keys import lookup
from alphafold_jax.losses._utils import masked_mean
from alphafold_jax.losses.config import LossConfig
from alphafold_jax.losses.violations_bonds import (
    between_residue_bond_loss, ca_chirality, extreme_ca_ca_distance_violations)
from alphafold_jax.losses.violations_clashes import (
    atom14_distance_bounds, atom14_vdw_radius, between_residue_clash_loss,
    within_residue_violations)


def find_structural_violations(batch: Mapping[str, jnp.ndarray],
                               atom14_pred_positions: jnp.ndarray,
                               config: LossConfig = LossConfig()) -> Dict:
  """All violation checks on predicted atom14 positions [N, 14, 3].

  batch needs aatype [N], residue_index [N], atom14_atom_exists [N, 14]. Returns AF2's
  nested dict: 'between_residues' {bonds_c_n_loss_mean, angles_ca_c_n_loss_mean,
  angles_c_n_ca_loss_mean, connections_per_residue_loss_sum, connections_per_residue_violation_mask,
  clashes_mean_loss, clashes_per_atom_loss_sum, clashes_per_atom_clash_mask},
  'within_residues' {per_atom_loss_sum, per_atom_violations},
  'total_per_residue_violations_mask' [N].
  """
  get = lambda k: lookup(batch, k, what='batch')
  aatype = get('aatype')
  residue_index = get('residue_index')
  exists = jnp.asarray(get('atom14_atom_exists'), jnp.float32)
  loss_tolerance = (config.violation_tolerance_factor
                    if config.violation_loss_tolerance_factor is None
                    else config.violation_loss_tolerance_factor)
  bonds = between_residue_bond_loss(
      atom14_pred_positions, exists, residue_index, aatype,
      tolerance_factor_soft=loss_tolerance,
      tolerance_factor_hard=config.violation_tolerance_factor)
  clashes = between_residue_clash_loss(
      atom14_pred_positions, exists, atom14_vdw_radius(aatype, exists), residue_index,
      overlap_tolerance_soft=config.clash_overlap_tolerance,
      overlap_tolerance_hard=config.clash_overlap_tolerance)
  lower, upper = atom14_distance_bounds(aatype, config.clash_overlap_tolerance,
                                        config.violation_tolerance_factor)
  within = within_residue_violations(atom14_pred_positions, exists, lower, upper)
  per_residue = jnp.max(jnp.stack([
      bonds['per_residue_violation_mask'],
      jnp.max(clashes['per_atom_clash_mask'], axis=-1),
      jnp.max(within['per_atom_violations'], axis=-1)]), axis=0)  # [N]
  return {
      'between_residues': {
          'bonds_c_n_loss_mean': bonds['c_n_loss_mean'],
          'angles_ca_c_n_loss_mean': bonds['ca_c_n_loss_mean'],
          'angles_c_n_ca_loss_mean': bonds['c_n_ca_loss_mean'],
          'connections_per_residue_loss_sum': bonds['per_residue_loss_sum'],
          'connections_per_residue_violation_mask': bonds['per_residue_violation_mask'],
          'clashes_mean_loss': clashes['mean_loss'],
          'clashes_per_atom_loss_sum': clashes['per_atom_loss_sum'],
          'clashes_per_atom_clash_mask': clashes['per_atom_clash_mask'],
      },
      'within_residues': {
          'per_atom_loss_sum': within['per_atom_loss_sum'],
          'per_atom_violations': within['per_atom_violations'],
      },
      'total_per_residue_violations_mask': per_residue,
  }


def structural_violation_loss(violations: Mapping, atom14_atom_exists: jnp.ndarray) -> jnp.ndarray:
  """Unweighted L_viol (eq. 47) from find_structural_violations' output."""
  between, within = violations['between_residues'], violations['within_residues']
  num_atoms = jnp.sum(jnp.asarray(atom14_atom_exists, jnp.float32))
  return (between['bonds_c_n_loss_mean'] + between['angles_ca_c_n_loss_mean']
          + between['angles_c_n_ca_loss_mean']
          + jnp.sum(between['clashes_per_atom_loss_sum'] + within['per_atom_loss_sum'])
          / (1e-6 + num_atoms))


def compute_violation_metrics(batch: Mapping[str, jnp.ndarray],
                              atom14_pred_positions: jnp.ndarray,
                              violations: Mapping) -> Dict[str, jnp.ndarray]:
  """AF2's violation metrics (fractions of residues over seq_mask) + CA chirality.

  violations_ca_chirality: fraction of residues (with N, CA, C, CB predicted and resolved)
  whose predicted CA signed volume differs in sign from the ground truth's
  (from atom14_gt_positions / atom14_gt_exists when present, else from L-chirality, i.e. > 0).
  """
  get = lambda k: lookup(batch, k, what='batch')
  seq_mask = jnp.asarray(get('seq_mask'), jnp.float32)
  exists = jnp.asarray(get('atom14_atom_exists'), jnp.float32)
  between, within = violations['between_residues'], violations['within_residues']
  pred = jax.lax.stop_gradient(atom14_pred_positions)
  vol, vol_mask = ca_chirality(pred, exists)
  if 'atom14_gt_positions' in batch and 'atom14_gt_exists' in batch:
    true_vol, true_mask = ca_chirality(batch['atom14_gt_positions'], batch['atom14_gt_exists'])
    wrong = (vol * true_vol < 0).astype(jnp.float32)
    vol_mask = vol_mask * true_mask
  else:
    wrong = (vol < 0).astype(jnp.float32)
  return {
      'violations_extreme_ca_ca_distance': extreme_ca_ca_distance_violations(
          pred, exists, get('residue_index')),
      'violations_between_residue_bond': masked_mean(
          seq_mask, between['connections_per_residue_violation_mask']),
      'violations_between_residue_clash': masked_mean(
          seq_mask, jnp.max(between['clashes_per_atom_clash_mask'], axis=-1)),
      'violations_within_residue': masked_mean(
          seq_mask, jnp.max(within['per_atom_violations'], axis=-1)),
      'violations_per_residue': masked_mean(
          seq_mask, violations['total_per_residue_violations_mask']),
      'violations_ca_chirality': masked_mean(seq_mask * vol_mask, wrong),
  }


def violation_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                   config: LossConfig = LossConfig()):
  """Unweighted violation loss on predictions['structure_module']['final_atom14_positions']
  [N, 14, 3], with the violation metrics. Returns (loss, metrics)."""
  pos = lookup(predictions, 'structure_module', 'final_atom14_positions')
  violations = find_structural_violations(batch, pos, config)
  loss = structural_violation_loss(violations, lookup(batch, 'atom14_atom_exists', what='batch'))
  metrics = compute_violation_metrics(batch, pos, violations)
  metrics['violation_loss'] = loss
  return loss, metrics
