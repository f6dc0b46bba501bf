"""AlphaFold2 losses as pure functions `(predictions, batch, config) -> (loss, metrics)`.

Lower-level functions on explicit arrays / `Rigid`s are exported too (optax style: usable
without our model). See total.py for the prediction-dict layout.
"""

from alphafold_jax.losses.chain_center_of_mass import chain_center_of_mass_loss
from alphafold_jax.losses.config import LossConfig
from alphafold_jax.losses.distogram import (
    distogram_cross_entropy, distogram_loss, distogram_targets)
from alphafold_jax.losses.experimentally_resolved import (
    experimentally_resolved_cross_entropy, experimentally_resolved_loss)
from alphafold_jax.losses.fape import (
    backbone_fape, backbone_loss, frame_aligned_point_error, sidechain_fape, sidechain_loss)
from alphafold_jax.losses.multimer import ChainFapeConfig, chain_aware_backbone_loss
from alphafold_jax.losses.multimer_total import (
    alphafold_multimer_loss, chain_aware_backbone_term, multimer_structure_module_loss)
from alphafold_jax.losses.multimer_violations import (
    chain_aware_violation_loss, chain_aware_violation_metrics, chain_residue_index,
    find_chain_aware_violations)
from alphafold_jax.losses.masked_msa import masked_msa_cross_entropy, masked_msa_loss
from alphafold_jax.losses.pae import (
    aligned_error_bins, aligned_error_squared, expected_aligned_error, pae_cross_entropy, pae_loss,
    predicted_tm_score)
from alphafold_jax.losses.plddt import (
    lddt_bins, lddt_ca_targets, plddt_cross_entropy, plddt_loss)
from alphafold_jax.losses.renaming import compute_renamed_ground_truth, find_optimal_renaming
from alphafold_jax.losses.torsion import angle_norm_error, chi_angle_error, supervised_chi_loss
from alphafold_jax.losses.total import alphafold_loss, structure_module_loss
from alphafold_jax.losses.violations import (
    compute_violation_metrics, find_structural_violations, structural_violation_loss,
    violation_loss)
from alphafold_jax.losses.violations_bonds import (
    between_residue_bond_loss, ca_chirality, extreme_ca_ca_distance_violations)
from alphafold_jax.losses.violations_clashes import (
    between_residue_clash_loss, within_residue_violations)
