"""AF2-Multimer training loss: AF2's total loss (total.py) with the multimer's structure-module
terms (`folding_multimer.StructureModule.loss` of DeepMind's v2.3) and the chain
centre-of-mass term (Evans et al. 2021, Sec. 2.5).

Differences from the monomer, each a pure function of its own file:
  * backbone FAPE split into intra-chain (LossConfig.fape_clamp_distance / fape_length_scale,
    10 / 10 A) and interface (ChainFapeConfig: clamp 1000 A, scale 20 A) terms, summed
    (multimer.py; no clamped/unclamped mixing);
  * chain-aware structural violations and metrics (multimer_violations.py);
  * + chain_center_of_mass_weight * chain centre-of-mass loss on the final atom positions
    (chain_center_of_mass.py; weight 0 by default, see config.py).
Side-chain FAPE, torsions and the head losses are the monomer's.

The batch additionally needs asym_id [N] (and, for the centre-of-mass term, all_atom_positions
[N, 37, 3] / all_atom_mask [N, 37]); the predictions need structure_module
final_atom_positions [N, 37, 3] for that term. Multi-chain permutation alignment is not done:
the ground truth must already be in the predicted chain order.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import jax.numpy as jnp

from alphafold_jax.losses import _frames
from alphafold_jax.losses._keys import lookup
from alphafold_jax.losses.chain_center_of_mass import chain_center_of_mass_loss
from alphafold_jax.losses.config import LossConfig
from alphafold_jax.losses.fape import backbone_target
from alphafold_jax.losses.multimer import ChainFapeConfig, chain_aware_backbone_loss
from alphafold_jax.losses.multimer_violations import (chain_aware_violation_metrics,
                                                      find_chain_aware_violations)
from alphafold_jax.losses.total import alphafold_loss, structure_module_loss


def chain_aware_backbone_term(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                              config: LossConfig = LossConfig(),
                              chain_fape: Optional[ChainFapeConfig] = None
                              ) -> Tuple[jnp.ndarray, Dict]:
  """Intra-chain + interface backbone FAPE over the trajectory [K, N] (mean over layers).

  The intra-chain clamp / scale are LossConfig's monomer FAPE settings; the interface ones
  come from chain_fape (default ChainFapeConfig()). Returns (loss, {'fape': last layer}).
  """
  base = chain_fape or ChainFapeConfig()
  cfg = ChainFapeConfig(intra_clamp_distance=config.fape_clamp_distance,
                        intra_length_scale=config.fape_length_scale,
                        interface_clamp_distance=base.interface_clamp_distance,
                        interface_length_scale=base.interface_length_scale)
  traj = _frames.to_rigid(lookup(predictions, 'structure_module', 'traj'))
  target, mask = backbone_target(batch)
  loss, last = chain_aware_backbone_loss(traj, target, mask,
                                         lookup(batch, 'asym_id', what='batch'), cfg)
  return loss, {'fape': last}


def multimer_structure_module_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                                   config: LossConfig = LossConfig()
                                   ) -> Tuple[jnp.ndarray, Dict]:
  """AF2-Multimer's structure-module loss (total.structure_module_loss with the chain-aware
  backbone FAPE and violations). Returns (loss, metrics)."""
  return structure_module_loss(predictions, batch, config, backbone=chain_aware_backbone_term,
                               find_violations=find_chain_aware_violations,
                               violation_metrics=chain_aware_violation_metrics)


def chain_center_of_mass_term(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                              config: LossConfig = LossConfig()) -> Tuple[jnp.ndarray, Dict]:
  """Chain centre-of-mass loss of the final atom positions. Returns (loss, {})."""
  get = lambda k: lookup(batch, k, what='batch')
  pred = lookup(predictions, 'structure_module', 'final_atom_positions')
  return chain_center_of_mass_loss(pred, get('all_atom_positions'), get('all_atom_mask'),
                                   get('asym_id')), {}


def alphafold_multimer_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                            config: LossConfig = LossConfig()) -> Tuple[jnp.ndarray, Dict]:
  """Weighted AF2-Multimer training loss (module docstring). Returns (loss, metrics)."""
  return alphafold_loss(
      predictions, batch, config, structure_loss=multimer_structure_module_loss,
      extra_terms=[(config.chain_center_of_mass_weight, chain_center_of_mass_term,
                    'chain_center_of_mass_loss', 'structure_module')])
