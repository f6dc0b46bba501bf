"""Experimentally-resolved loss (Jumper et al. 2021, Suppl. Sec. 1.9.10, eq. 43).

Per-atom sigmoid cross entropy (atom37) between predicted logits and whether the atom was
resolved in the experiment, averaged over atoms that exist for the residue type; examples
outside the resolution window (NMR, distillation: resolution 0) get zero loss.
Shapes: N = residues, 37 = atom37 slots.
"""

from __future__ import annotations

from typing import Mapping

import jax.numpy as jnp

from alphafold_jax.losses._keys import lookup
from alphafold_jax.losses._utils import resolution_weight, sigmoid_cross_entropy
from alphafold_jax.losses.config import LossConfig


def experimentally_resolved_cross_entropy(
    logits: jnp.ndarray, all_atom_mask: jnp.ndarray,
    atom37_atom_exists: jnp.ndarray) -> jnp.ndarray:
  """logits, all_atom_mask, atom37_atom_exists: [N, 37] -> masked mean sigmoid CE."""
  if logits.shape != all_atom_mask.shape:
    raise ValueError(f'experimentally resolved logits {logits.shape} do not match '
                     f'all_atom_mask {all_atom_mask.shape}')
  xent = sigmoid_cross_entropy(logits, jnp.asarray(all_atom_mask, jnp.float32))  # [N, 37]
  exists = jnp.asarray(atom37_atom_exists, jnp.float32)
  return jnp.sum(xent * exists) / (1e-8 + jnp.sum(exists))


def experimentally_resolved_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                                 config: LossConfig = LossConfig()):
  """predictions['experimentally_resolved']['logits'] [N, 37]; batch all_atom_mask,
  atom37_atom_exists, resolution."""
  loss = experimentally_resolved_cross_entropy(
      lookup(predictions, 'experimentally_resolved', 'logits'),
      lookup(batch, 'all_atom_mask', what='batch'),
      lookup(batch, 'atom37_atom_exists', what='batch'))
  if config.filter_by_resolution:
    loss = loss * resolution_weight(lookup(batch, 'resolution', what='batch'),
                                    config.min_resolution, config.max_resolution)
  return loss, {'experimentally_resolved_loss': loss}
