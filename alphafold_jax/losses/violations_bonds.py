"""Peptide-bond geometry violations between consecutive residues (Jumper et al. 2021,
Suppl. Sec. 1.9.11, eq. 44-45) and backbone metrics (CA-CA distance, CA chirality).

Flat-bottom losses: an error is penalised only beyond `tolerance_factor` standard deviations
of the PDB distribution (stereo-chemistry table). Bond angles are compared as cosines.
Shapes: N = residues; atom slots are atom14 (or atom37: N, CA, C occupy slots 0, 1, 2 in both).
"""

from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.losses._utils import masked_mean, safe_norm

_N, _CA, _C, _CB = 0, 1, 2, 4  # atom14 slots (CB is slot 3 in atom37; use atom14 here)


def _flat_bottom(error: jnp.ndarray, stddev, tolerance_factor: float) -> jnp.ndarray:
  return jax.nn.relu(error - tolerance_factor * stddev)


def between_residue_bond_loss(
    pred_atom_positions: jnp.ndarray, pred_atom_mask: jnp.ndarray,
    residue_index: jnp.ndarray, aatype: jnp.ndarray,
    tolerance_factor_soft: float = 12.0,
    tolerance_factor_hard: float = 12.0) -> Dict[str, jnp.ndarray]:
  """C-N bond length and CA-C-N / C-N-CA angle violations across each peptide bond.

  pred_atom_positions [N, A, 3], pred_atom_mask [N, A], residue_index [N], aatype [N].
  Pairs (i, i+1) count only when residue_index[i+1] - residue_index[i] == 1.
  Returns c_n_loss_mean, ca_c_n_loss_mean, c_n_ca_loss_mean (scalars), per_residue_loss_sum
  [N] (each bond's loss split half/half over its two residues) and
  per_residue_violation_mask [N].
  """
  mask = jnp.asarray(pred_atom_mask, jnp.float32)
  pos = pred_atom_positions
  ca_i, c_i = pos[:-1, _CA], pos[:-1, _C]          # [N-1, 3]
  n_j, ca_j = pos[1:, _N], pos[1:, _CA]            # [N-1, 3]
  m_ca_i, m_c_i, m_n_j, m_ca_j = mask[:-1, _CA], mask[:-1, _C], mask[1:, _N], mask[1:, _CA]
  residue_index = jnp.asarray(residue_index, jnp.float32)
  no_gap = (residue_index[1:] - residue_index[:-1] == 1.).astype(jnp.float32)  # [N-1]

  # C-N bond length; the bond into proline differs (ring).
  next_is_pro = (aatype[1:] == rc.resname_to_idx['PRO']).astype(jnp.float32)
  gt_len = ((1. - next_is_pro) * rc.between_res_bond_length_c_n[0]
            + next_is_pro * rc.between_res_bond_length_c_n[1])
  gt_len_std = ((1. - next_is_pro) * rc.between_res_bond_length_stddev_c_n[0]
                + next_is_pro * rc.between_res_bond_length_stddev_c_n[1])
  c_n_len = safe_norm(n_j - c_i)                                     # [N-1]
  c_n_err = jnp.sqrt(1e-6 + jnp.square(c_n_len - gt_len))
  c_n_loss = _flat_bottom(c_n_err, gt_len_std, tolerance_factor_soft)
  m = m_c_i * m_n_j * no_gap
  c_n_loss_mean = jnp.sum(m * c_n_loss) / (jnp.sum(m) + 1e-6)
  c_n_viol = m * (c_n_err > tolerance_factor_hard * gt_len_std)

  # Bond angles via unit vectors (lengths are >= 1e-3 thanks to the sqrt eps).
  c_to_ca = (ca_i - c_i) / safe_norm(ca_i - c_i)[:, None]            # [N-1, 3]
  c_to_n = (n_j - c_i) / c_n_len[:, None]                            # [N-1, 3]
  n_to_ca = (ca_j - n_j) / safe_norm(ca_j - n_j)[:, None]            # [N-1, 3]

  # DISCREPANCY (kept for parity): DeepMind's code uses the C-N *bond-length* stddev as the
  # tolerance unit of the CA-C-N angle; the table's angle stddev is used for C-N-CA.
  ca_c_n_cos = jnp.sum(c_to_ca * c_to_n, -1)
  ca_c_n_err = jnp.sqrt(1e-6 + jnp.square(ca_c_n_cos - rc.between_res_cos_angles_ca_c_n[0]))
  ca_c_n_std = rc.between_res_bond_length_stddev_c_n[0]
  ca_c_n_loss = _flat_bottom(ca_c_n_err, ca_c_n_std, tolerance_factor_soft)
  m = m_ca_i * m_c_i * m_n_j * no_gap
  ca_c_n_loss_mean = jnp.sum(m * ca_c_n_loss) / (jnp.sum(m) + 1e-6)
  ca_c_n_viol = m * (ca_c_n_err > tolerance_factor_hard * ca_c_n_std)

  c_n_ca_cos = jnp.sum(-c_to_n * n_to_ca, -1)
  c_n_ca_err = jnp.sqrt(1e-6 + jnp.square(c_n_ca_cos - rc.between_res_cos_angles_c_n_ca[0]))
  c_n_ca_std = rc.between_res_cos_angles_c_n_ca[1]
  c_n_ca_loss = _flat_bottom(c_n_ca_err, c_n_ca_std, tolerance_factor_soft)
  m = m_c_i * m_n_j * m_ca_j * no_gap
  c_n_ca_loss_mean = jnp.sum(m * c_n_ca_loss) / (jnp.sum(m) + 1e-6)
  c_n_ca_viol = m * (c_n_ca_err > tolerance_factor_hard * c_n_ca_std)

  # DISCREPANCY (kept for parity): per-residue sums use the unmasked per-bond losses.
  per_bond = c_n_loss + ca_c_n_loss + c_n_ca_loss                     # [N-1]
  per_residue_loss_sum = 0.5 * (jnp.pad(per_bond, (0, 1)) + jnp.pad(per_bond, (1, 0)))  # [N]
  viol = jnp.max(jnp.stack([c_n_viol, ca_c_n_viol, c_n_ca_viol]), axis=0)            # [N-1]
  per_residue_violation_mask = jnp.maximum(jnp.pad(viol, (0, 1)), jnp.pad(viol, (1, 0)))
  return {
      'c_n_loss_mean': c_n_loss_mean,
      'ca_c_n_loss_mean': ca_c_n_loss_mean,
      'c_n_ca_loss_mean': c_n_ca_loss_mean,
      'per_residue_loss_sum': per_residue_loss_sum,
      'per_residue_violation_mask': per_residue_violation_mask,
  }


def extreme_ca_ca_distance_violations(
    pred_atom_positions: jnp.ndarray, pred_atom_mask: jnp.ndarray,
    residue_index: jnp.ndarray, max_angstrom_tolerance: float = 1.5) -> jnp.ndarray:
  """Fraction of consecutive CA-CA pairs more than `max_angstrom_tolerance` above 3.80 A."""
  mask = jnp.asarray(pred_atom_mask, jnp.float32)
  residue_index = jnp.asarray(residue_index, jnp.float32)
  d = safe_norm(pred_atom_positions[1:, _CA] - pred_atom_positions[:-1, _CA])  # [N-1]
  viol = (d - rc.ca_ca > max_angstrom_tolerance).astype(jnp.float32)
  m = mask[:-1, _CA] * mask[1:, _CA] * (residue_index[1:] - residue_index[:-1] == 1.)
  return masked_mean(m, viol)


def ca_chirality(atom14_positions: jnp.ndarray, atom14_mask: jnp.ndarray):
  """Signed volume (N-CA) x (C-CA) . (CB-CA) per residue [N] and its validity mask [N].

  Natural L-amino acids have a POSITIVE volume in this convention (check: AF2's literature
  ALA coordinates give +2.5 A^3); glycine (no CB) is masked out.
  """
  ca = atom14_positions[:, _CA]
  vol = jnp.sum(jnp.cross(atom14_positions[:, _N] - ca, atom14_positions[:, _C] - ca)
                * (atom14_positions[:, _CB] - ca), -1)                # [N]
  m = jnp.asarray(atom14_mask, jnp.float32)
  return vol, m[:, _N] * m[:, _CA] * m[:, _C] * m[:, _CB]
