"""Total AlphaFold2 training loss (Jumper et al. 2021, Suppl. Sec. 1.9, eq. 7).

  L = w_sm * [ (1 - f) * mean_layers(FAPE_bb) + f * FAPE_sc
               + chi_weight * L_chi + angle_norm_weight * L_norm + w_viol * L_viol
               (+ w_pep * L_peptide, not in AF2: losses/peptide_geometry.py) ]
    + w_dist * L_dist + w_msa * L_msa + w_plddt * L_plddt + w_pae * L_pae + w_exp * L_exp

with DeepMind's weights as defaults (see config.py). Terms whose weight is 0 are skipped
and need no inputs (violation metrics are still reported unless disabled in the config).

`predictions` follows AF2's output layout:
  structure_module: traj [K, N] frames (Rigid or [K, N, 7]), sidechains {frames [K, N, 8],
    atom_pos [K, N, 14, 3], angles_sin_cos / unnormalized_angles_sin_cos [K, N, 7, 2]},
    final_atom14_positions [N, 14, 3], optional final_atom_positions [N, 37, 3] and
    final_frames (or AF2's final_affines; default traj[-1])
  distogram: {logits [N, N, 64], bin_edges [63]}    masked_msa: {logits [S, N, 23]}
  predicted_lddt: {logits [N, 50]}                  predicted_aligned_error: {logits, breaks}
  experimentally_resolved: {logits [N, 37]}
"""

from __future__ import annotations

from typing import Callable, Dict, Mapping, Sequence, Tuple

import jax.numpy as jnp

from alphafold_jax.losses import _frames
from alphafold_jax.losses._keys import MissingInputError, lookup
from alphafold_jax.losses.config import LossConfig
from alphafold_jax.losses.distogram import distogram_loss
from alphafold_jax.losses.experimentally_resolved import experimentally_resolved_loss
from alphafold_jax.losses.fape import backbone_loss, sidechain_loss
from alphafold_jax.losses.masked_msa import masked_msa_loss
from alphafold_jax.losses.pae import pae_loss
from alphafold_jax.losses.peptide_geometry import peptide_geometry_loss
from alphafold_jax.losses.plddt import plddt_loss
from alphafold_jax.losses.renaming import compute_renamed_ground_truth
from alphafold_jax.losses.torsion import supervised_chi_loss
from alphafold_jax.losses.violations import (
    compute_violation_metrics, find_structural_violations, structural_violation_loss)


def structure_module_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                          config: LossConfig = LossConfig(), *,
                          backbone: Callable = backbone_loss,
                          find_violations: Callable = find_structural_violations,
                          violation_metrics: Callable = compute_violation_metrics
                          ) -> Tuple[jnp.ndarray, Dict]:
  """FAPE (backbone + side chain), torsions and (weighted) violations, AF2's
  StructureModule.loss. Returns (unweighted-by-w_sm loss, metrics).

  backbone / find_violations / violation_metrics: the backbone FAPE term and the violation
  checks (AF2-Multimer passes its chain-aware ones, losses/multimer_total.py).
  """
  metrics = {}
  sm = lookup(predictions, 'structure_module')
  atom14 = _frames.positions_array(lookup(sm, 'final_atom14_positions',
                                          what="predictions['structure_module']"))
  renamed = compute_renamed_ground_truth(batch, atom14)

  bb, bb_metrics = backbone(predictions, batch, config)
  sc, sc_metrics = sidechain_loss(predictions, batch, config, renamed=renamed)
  metrics.update(bb_metrics)
  metrics['sidechain_fape'] = sc_metrics['sidechain_fape']
  loss = (1. - config.sidechain_weight_frac) * bb + config.sidechain_weight_frac * sc

  chi, chi_metrics = supervised_chi_loss(predictions, batch, config)
  metrics.update(chi_metrics)
  loss = loss + chi

  if config.structural_violation_loss_weight or config.compute_violation_metrics:
    violations = find_violations(batch, atom14, config)
    metrics.update(violation_metrics(batch, atom14, violations))
    viol = structural_violation_loss(violations, batch['atom14_atom_exists'])
    metrics['violation_loss'] = viol
    if config.structural_violation_loss_weight:
      loss = loss + config.structural_violation_loss_weight * viol
  if config.peptide_geometry_weight:  # not in AF2 (losses/peptide_geometry.py)
    geometry, geometry_metrics = peptide_geometry_loss(atom14, batch)
    metrics.update(geometry_metrics)
    loss = loss + config.peptide_geometry_weight * geometry
  metrics['structure_module_loss'] = loss
  return loss, metrics


LossTerm = Tuple[float, Callable, str, str]  # (weight, fn, metric name, prediction head)


def alphafold_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                   config: LossConfig = LossConfig(), *,
                   structure_loss: Callable = structure_module_loss,
                   extra_terms: Sequence[LossTerm] = ()) -> Tuple[jnp.ndarray, Dict]:
  """Weighted sum of all AF2 losses. Returns (scalar loss, flat dict of metrics).

  structure_loss replaces the structure-module term and extra_terms add weighted terms
  `fn(predictions, batch, config) -> (loss, metrics)` (AF2-Multimer, losses/multimer_total.py).
  """
  terms = [
      (config.structure_module_weight, structure_loss, 'structure_module_loss',
       'structure_module'),
      (config.distogram_weight, distogram_loss, 'distogram_loss', 'distogram'),
      (config.masked_msa_weight, masked_msa_loss, 'masked_msa_loss', 'masked_msa'),
      (config.plddt_weight, plddt_loss, 'plddt_loss', 'predicted_lddt'),
      (config.pae_weight, pae_loss, 'pae_loss', 'predicted_aligned_error'),
      (config.experimentally_resolved_weight, experimentally_resolved_loss,
       'experimentally_resolved_loss', 'experimentally_resolved'),
      *extra_terms,
  ]
  terms = [t for t in terms if t[0]]
  missing = [head for _, _, _, head in terms if head not in predictions]
  if missing:
    raise MissingInputError(
        f'predictions lack {missing}, needed by loss terms with non-zero weight '
        f'(available: {sorted(predictions)}); set their weights to 0 to skip them')
  total = jnp.zeros((), jnp.float32)
  metrics: Dict[str, jnp.ndarray] = {}
  for weight, fn, name, _ in terms:
    value, m = fn(predictions, batch, config)
    metrics.update(m)
    metrics[name] = value
    total = total + weight * value
  metrics['loss'] = total
  return total, metrics
