"""Distogram loss (Jumper et al. 2021, Suppl. Sec. 1.9.8, eq. 41).

Cross entropy between predicted pair logits and the binned true distance of pseudo-beta atoms
(CB, CA for glycine). Shapes: N = residues, B = bins.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from alphafold_jax.losses._keys import lookup
from alphafold_jax.losses._utils import softmax_cross_entropy
from alphafold_jax.losses.config import LossConfig


def distogram_targets(positions: jnp.ndarray, bin_edges: jnp.ndarray) -> jnp.ndarray:
  """Bin index [N, N] (int32, 0..B-1) of |x_i - x_j| among `bin_edges` [B - 1]."""
  dist2 = jnp.sum(jnp.square(positions[:, None, :] - positions[None, :, :]), -1)  # [N, N]
  return jnp.sum(dist2[..., None] > jnp.square(bin_edges), axis=-1).astype(jnp.int32)


def distogram_cross_entropy(logits: jnp.ndarray, bin_edges: jnp.ndarray,
                            positions: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
  """Mean CE over valid pairs. logits [N, N, B], bin_edges [B-1], positions [N, 3], mask [N]."""
  if logits.ndim != 3 or logits.shape[-1] != bin_edges.shape[-1] + 1:
    raise ValueError(f'distogram logits must be [N, N, B] with B = len(bin_edges) + 1; got '
                     f'logits {logits.shape}, bin_edges {bin_edges.shape}')
  true_bins = distogram_targets(positions, bin_edges)                  # [N, N]
  errors = softmax_cross_entropy(
      logits, jax.nn.one_hot(true_bins, logits.shape[-1]))             # [N, N]
  mask = jnp.asarray(mask, jnp.float32)
  pair_mask = mask[:, None] * mask[None, :]                            # [N, N]
  return jnp.sum(errors * pair_mask) / (1e-6 + jnp.sum(pair_mask))


def distogram_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                   config: LossConfig = LossConfig()):
  """predictions['distogram'] {'logits' [N, N, B], 'bin_edges' [B-1]} (the head's own bin
  layout); batch 'pseudo_beta' [N, 3], 'pseudo_beta_mask' [N]. Returns (loss, metrics)."""
  del config  # no distogram setting besides its weight (applied by alphafold_loss)
  logits = lookup(predictions, 'distogram', 'logits')
  edges = lookup(predictions, 'distogram', 'bin_edges')
  loss = distogram_cross_entropy(
      logits, jnp.asarray(edges), lookup(batch, 'pseudo_beta', what='batch'),
      lookup(batch, 'pseudo_beta_mask', what='batch'))
  return loss, {'distogram_loss': loss}
