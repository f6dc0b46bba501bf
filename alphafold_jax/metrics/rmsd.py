"""RMSD metrics: CA-RMSD after optimal (Kabsch) superposition, masked.

Shapes: N = residues. predicted, reference: [..., N, 3]; mask: [..., N].
Pure jnp (NumPy accepted); returns arrays [...].
"""

from __future__ import annotations

import jax.numpy as jnp

from alphafold_jax.geometry.alignment import kabsch, weighted_rmsd


def rmsd(predicted, reference, mask=None, superpose: bool = True) -> jnp.ndarray:
  """RMSD (angstrom) of corresponding points, after Kabsch superposition by default."""
  if superpose:
    return kabsch(predicted, reference, mask)[1]
  return weighted_rmsd(predicted, reference, mask)


def ca_rmsd(predicted_atom37, reference_atom37, mask) -> jnp.ndarray:
  """CA-RMSD from atom37 positions [..., N, 37, 3]; mask [..., N] or atom37 mask [..., N, 37]."""
  ca = 1
  mask = jnp.asarray(mask)
  if mask.ndim == jnp.ndim(predicted_atom37) - 1:
    mask = mask[..., ca]
  return rmsd(jnp.asarray(predicted_atom37)[..., ca, :], jnp.asarray(reference_atom37)[..., ca, :],
              mask)
