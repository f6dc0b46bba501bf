"""Predicted aligned error loss and pTM (Jumper et al. 2021, Suppl. Sec. 1.9.7, eq. 38-40).

Aligned-error targets e_ij = |T_i^-1 x_j - T_i^true^-1 x_j^true| with x_j the backbone frame
origins (CA), binned by the head's breaks (AF2: 64 bins, 63 edges spanning [0, 31] A);
loss = masked mean cross entropy over residue pairs, zeroed outside the resolution window. Shapes: N = residues (i aligned frame, j scored residue), B = bins.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from alphafold_jax.common.confidence import compute_predicted_aligned_error, predicted_tm_score
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.losses import _frames
from alphafold_jax.losses._keys import lookup
from alphafold_jax.losses._utils import resolution_weight, softmax_cross_entropy
from alphafold_jax.losses.config import LossConfig
from alphafold_jax.losses.fape import backbone_target


def aligned_error_squared(pred_frames: Rigid, target_frames: Rigid) -> jnp.ndarray:
  """Squared aligned error [N, N]: row i = frame, column j = residue (frame origin)."""
  local_pred = pred_frames[:, None].invert_apply(pred_frames.trans[None])        # [N, N, 3]
  local_true = target_frames[:, None].invert_apply(target_frames.trans[None])    # [N, N, 3]
  return jnp.sum(jnp.square(local_pred - local_true), axis=-1)                   # [N, N]


def aligned_error_bins(pred_frames: Rigid, target_frames: Rigid,
                       breaks: jnp.ndarray) -> jnp.ndarray:
  """Target bin index [N, N] (int32) of the aligned error; no gradient."""
  err2 = jax.lax.stop_gradient(aligned_error_squared(pred_frames, target_frames))  # [N, N]
  return jnp.sum(err2[..., None] > jnp.square(breaks), axis=-1).astype(jnp.int32)


def pae_cross_entropy(logits: jnp.ndarray, breaks: jnp.ndarray, pred_frames: Rigid,
                      target_frames: Rigid, frames_mask: jnp.ndarray) -> jnp.ndarray:
  """logits [N, N, B], breaks [B - 1], frames Rigid [N], frames_mask [N] -> scalar."""
  if logits.ndim != 3 or logits.shape[-1] != breaks.shape[-1] + 1:
    raise ValueError(f'PAE logits must be [N, N, B] with B = len(breaks) + 1; got logits '
                     f'{logits.shape}, breaks {breaks.shape}')
  true_bins = aligned_error_bins(pred_frames, target_frames, breaks)        # [N, N]
  errors = softmax_cross_entropy(logits, jax.nn.one_hot(true_bins, logits.shape[-1]))
  mask = jnp.asarray(frames_mask, jnp.float32)
  pair_mask = mask[:, None] * mask[None, :]                                  # [N, N]
  return jnp.sum(errors * pair_mask) / (1e-8 + jnp.sum(pair_mask))


def expected_aligned_error(logits: jnp.ndarray, breaks: jnp.ndarray) -> jnp.ndarray:
  """PAE matrix [N, N] = sum_b p_b * centre_b (Suppl. Sec. 1.9.7), the PAE head's definition."""
  return compute_predicted_aligned_error(logits, breaks)['predicted_aligned_error']


def predicted_final_frames(predictions: Mapping) -> Rigid:
  """Final backbone frames [N]: 'final_frames' / 'final_affines' if present, else the
  last 'traj' layer."""
  sm = lookup(predictions, 'structure_module')
  for key in ('final_frames', 'final_affines'):
    if key in sm:
      return _frames.to_rigid(sm[key])
  traj = _frames.to_rigid(lookup(sm, 'traj', what="predictions['structure_module']"))
  return traj[-1] if len(traj.shape) == 2 else traj


def pae_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
             config: LossConfig = LossConfig()):
  """predictions['predicted_aligned_error'] {'logits' [N, N, B], 'breaks' [B-1]}
  + final backbone frames; batch backbone_affine_tensor/mask, resolution.
  Metrics: pae loss and pTM (weights = seq_mask if given)."""
  logits = lookup(predictions, 'predicted_aligned_error', 'logits')
  breaks = jnp.asarray(lookup(predictions, 'predicted_aligned_error', 'breaks'))
  target, mask = backbone_target(batch)
  loss = pae_cross_entropy(logits, breaks, predicted_final_frames(predictions), target, mask)
  if config.filter_by_resolution:
    loss = loss * resolution_weight(lookup(batch, 'resolution', what='batch'),
                                    config.min_resolution, config.max_resolution)
  ptm = predicted_tm_score(jax.lax.stop_gradient(logits), breaks, batch.get('seq_mask'))
  return loss, {'pae_loss': loss, 'ptm': ptm}
