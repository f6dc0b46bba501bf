"""Steric clashes between residues and bond/clash bound violations within residues
(Jumper et al. 2021, Suppl. Sec. 1.9.11, eq. 46).

Between residues: every pair of existing atoms in different residues closer than the sum of
their van der Waals radii minus `overlap_tolerance` (1.5 A) is penalised, except the peptide
C-N bond and disulfide SG-SG pairs. Within residues: each atom pair must stay within the
per-residue-type [lower, upper] bounds (bonds/angles from the stereo-chemistry table with a
12-sigma tolerance, vdW-based lower bounds for non-bonded pairs).
Shapes: N = residues, 14 = atom14 slots.
"""

from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.common import residue_constants as rc


def atom14_vdw_radius_table() -> np.ndarray:
  """[21, 14] van der Waals radius of every atom14 slot per residue type (0 for empty slots).

  The element is the first letter of the atom name (AF2's convention).
  """
  table = np.zeros((rc.restype_num + 1, 14), np.float32)
  for restype, one_letter in enumerate(rc.restypes):
    names = rc.restype_name_to_atom14_names[rc.restype_1to3[one_letter]]
    for slot, name in enumerate(names):
      if name:
        table[restype, slot] = rc.van_der_waals_radius[name[0]]
  return table


def atom14_vdw_radius(aatype: jnp.ndarray, atom14_atom_exists: jnp.ndarray) -> jnp.ndarray:
  """[N, 14] radii of the existing atoms of each residue (0 elsewhere)."""
  table = jnp.asarray(atom14_vdw_radius_table())
  return jnp.take(table, aatype, axis=0, mode='clip') * atom14_atom_exists


def between_residue_clash_loss(
    atom14_pred_positions: jnp.ndarray, atom14_atom_exists: jnp.ndarray,
    atom14_atom_radius: jnp.ndarray, residue_index: jnp.ndarray,
    overlap_tolerance_soft: float = 1.5,
    overlap_tolerance_hard: float = 1.5) -> Dict[str, jnp.ndarray]:
  """Clash loss between atoms of different residues.

  Returns mean_loss (scalar, over all scored pairs), per_atom_loss_sum [N, 14] and
  per_atom_clash_mask [N, 14].
  """
  pos = atom14_pred_positions
  exists = jnp.asarray(atom14_atom_exists, jnp.float32)
  diff = pos[:, None, :, None, :] - pos[None, :, None, :, :]       # [N, N, 14, 14, 3]
  dists = jnp.sqrt(1e-10 + jnp.sum(jnp.square(diff), -1))          # [N, N, 14, 14]

  ri = residue_index
  pair_mask = exists[:, None, :, None] * exists[None, :, None, :]  # [N, N, 14, 14]
  # Each residue pair once (i before j); same-residue pairs are handled in-residue.
  pair_mask = pair_mask * (ri[:, None] < ri[None, :])[:, :, None, None]
  # Peptide bond C(i) - N(i+1) is not a clash.
  is_next = (ri[:, None] + 1 == ri[None, :]).astype(jnp.float32)  # [N, N]
  c_slot, n_slot = jax.nn.one_hot(2, 14), jax.nn.one_hot(0, 14)   # [14]
  pair_mask = pair_mask * (1. - is_next[:, :, None, None]
                           * c_slot[:, None] * n_slot[None, :])
  # Disulfide bridge SG - SG is not a clash.
  sg = jax.nn.one_hot(rc.restype_name_to_atom14_names['CYS'].index('SG'), 14)
  pair_mask = pair_mask * (1. - sg[:, None] * sg[None, :])

  lower = pair_mask * (atom14_atom_radius[:, None, :, None]
                       + atom14_atom_radius[None, :, None, :])     # [N, N, 14, 14]
  err = pair_mask * jax.nn.relu(lower - overlap_tolerance_soft - dists)
  mean_loss = jnp.sum(err) / (1e-6 + jnp.sum(pair_mask))
  per_atom_loss_sum = jnp.sum(err, axis=(0, 2)) + jnp.sum(err, axis=(1, 3))  # [N, 14]
  clash = pair_mask * (dists < lower - overlap_tolerance_hard)                # [N, N, 14, 14]
  per_atom_clash_mask = jnp.maximum(jnp.max(clash, axis=(0, 2)), jnp.max(clash, axis=(1, 3)))
  return {'mean_loss': mean_loss, 'per_atom_loss_sum': per_atom_loss_sum,
          'per_atom_clash_mask': per_atom_clash_mask}


def atom14_distance_bounds(aatype: jnp.ndarray, overlap_tolerance: float = 1.5,
                           bond_length_tolerance_factor: float = 12.0):
  """Per-residue [N, 14, 14] lower and upper distance bounds (make_atom14_dists_bounds)."""
  bounds = rc.make_atom14_dists_bounds(overlap_tolerance=overlap_tolerance,
                                       bond_length_tolerance_factor=bond_length_tolerance_factor)
  take = lambda t: jnp.take(jnp.asarray(t, jnp.float32), aatype, axis=0, mode='clip')
  return take(bounds['lower_bound']), take(bounds['upper_bound'])


def within_residue_violations(
    atom14_pred_positions: jnp.ndarray, atom14_atom_exists: jnp.ndarray,
    atom14_dists_lower_bound: jnp.ndarray, atom14_dists_upper_bound: jnp.ndarray,
    tighten_bounds_for_loss: float = 0.0) -> Dict[str, jnp.ndarray]:
  """Bound violations between atoms of the same residue.

  Returns per_atom_loss_sum [N, 14] and per_atom_violations [N, 14].
  """
  exists = jnp.asarray(atom14_atom_exists, jnp.float32)
  pair_mask = ((1. - jnp.eye(14, dtype=jnp.float32))[None]
               * exists[:, :, None] * exists[:, None, :])         # [N, 14, 14]
  pos = atom14_pred_positions
  dists = jnp.sqrt(1e-10 + jnp.sum(
      jnp.square(pos[:, :, None, :] - pos[:, None, :, :]), -1))   # [N, 14, 14]
  low = jax.nn.relu(atom14_dists_lower_bound + tighten_bounds_for_loss - dists)
  high = jax.nn.relu(dists - (atom14_dists_upper_bound - tighten_bounds_for_loss))
  loss = pair_mask * (low + high)                                  # [N, 14, 14]
  per_atom_loss_sum = jnp.sum(loss, axis=1) + jnp.sum(loss, axis=2)
  viol = pair_mask * ((dists < atom14_dists_lower_bound) | (dists > atom14_dists_upper_bound))
  per_atom_violations = jnp.maximum(jnp.max(viol, axis=1), jnp.max(viol, axis=2))
  return {'per_atom_loss_sum': per_atom_loss_sum, 'per_atom_violations': per_atom_violations}
