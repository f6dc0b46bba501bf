"""Chain centre-of-mass loss of AF2-Multimer (Evans et al. 2021, v2 preprint, Sec. 2.5 eq. 1):
keeps predicted chains from overlapping.

With c_k the mean CA position of chain k (resolved CAs only) in the prediction and the truth,
  L = 1 / C^2 * sum_{k, l} min(0, (|c_k - c_l|_pred - |c_k - c_l|_true + margin) / scale)^2
over the C chains present, margin 4 A and scale 20 A. One-sided: chains predicted closer
together than in the truth by more than the margin are pushed apart; chains predicted farther
apart (by any amount) or within the margin cost nothing. Invariant under rigid motions of the
prediction (only distances between centres enter).

DeepMind did not release this loss (its v2.3 code has no training losses beyond the structure
module's); the constants follow the preprint. The mean runs over all C^2 ordered chain pairs,
the diagonal (always 0) included, as the preprint's 1 / C^2 normalisation.

Shapes: N = residues, C = chain slots (asym_id values 1..C; 0 = padding).
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.losses._utils import masked_mean

_CA = rc.atom_order['CA']  # atom37 slot (also 1 in atom14)


def chain_centers(ca_positions: jnp.ndarray, chain_one_hot: jnp.ndarray,
                  eps: float = 1e-10) -> jnp.ndarray:
  """[C, 3] mean of the CA positions [N, 3] of each chain (chain_one_hot [C, N], masked)."""
  return (chain_one_hot @ ca_positions) / (jnp.sum(chain_one_hot, -1, keepdims=True) + eps)


def chain_center_of_mass_loss(pred_positions: jnp.ndarray, true_positions: jnp.ndarray,
                              true_mask: jnp.ndarray, asym_id: jnp.ndarray,
                              margin: float = 4.0, scale: float = 20.0,
                              num_chains: Optional[int] = None,
                              eps: float = 1e-10) -> jnp.ndarray:
  """Scalar chain centre-of-mass loss (module docstring).

  pred_positions / true_positions: [N, 37, 3] (atom37; CA = slot 1) or CA positions [N, 3];
  true_mask: [N, 37] or [N] (CA resolved); asym_id [N] (0 = padding, excluded).
  num_chains: static number of chain slots (asym_id <= num_chains); default N.
  Finite value and gradient for coincident centres.
  """
  if pred_positions.ndim == 3:
    pred_positions, true_positions = pred_positions[:, _CA], true_positions[:, _CA]
    true_mask = true_mask[:, _CA]
  n = asym_id.shape[0]
  num_chains = n if num_chains is None else num_chains
  asym = jnp.round(jnp.asarray(asym_id, jnp.float32)).astype(jnp.int32)
  member = jax.nn.one_hot(asym - 1, num_chains, dtype=jnp.float32).T  # [C, N]; id 0 -> none
  member = member * jnp.asarray(true_mask, jnp.float32)[None, :]
  exists = (jnp.sum(member, -1) > 0).astype(jnp.float32)               # [C]

  def distances(positions):
    centers = chain_centers(jnp.asarray(positions, jnp.float32), member, eps)   # [C, 3]
    d2 = jnp.sum(jnp.square(centers[:, None] - centers[None, :]), -1)           # [C, C]
    return jnp.sqrt(d2 + eps)

  error = distances(pred_positions) - distances(true_positions)        # [C, C]
  per_pair = jnp.square(jnp.minimum(0.0, (error + margin) / scale))     # [C, C]
  return masked_mean(exists[:, None] * exists[None, :], per_pair, eps=eps)
