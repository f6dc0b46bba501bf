"""Frame Aligned Point Error (Jumper et al. 2021, Suppl. Alg. 28) and the backbone /
side-chain FAPE losses of the structure module (Suppl. Alg. 20 line 17, Sec. 1.9.2/1.9.3).

Shapes: F = frames, P = points, K = structure-module layers, N = residues.
"""

from __future__ import annotations

from typing import Mapping, Optional, Tuple

import jax
import jax.numpy as jnp

from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.losses import _frames
from alphafold_jax.losses._keys import lookup
from alphafold_jax.losses.config import LossConfig
from alphafold_jax.losses.renaming import compute_renamed_ground_truth, rename_by


def frame_aligned_point_error(
    pred_frames: Rigid, target_frames: Rigid, frames_mask: jnp.ndarray,
    pred_positions: jnp.ndarray, target_positions: jnp.ndarray,
    positions_mask: jnp.ndarray, length_scale: float,
    l1_clamp_distance: Optional[float] = None, epsilon: float = 1e-4) -> jnp.ndarray:
  """FAPE between two structures: every point seen from every frame (Suppl. Alg. 28).

  Frames may carry any batch shape (flattened to F); positions [..., 3] (flattened to P).
    d_ij = sqrt(|T_i^-1 x_j - T_i^true^-1 x_j^true|^2 + eps)      (eps inside the sqrt)
    FAPE = sum_ij m_i m_j min(d_ij, clamp) / Z  /  (eps + sum_i m_i * sum_j m_j)
  Returns a scalar. Finite value and gradient for coincident points and masked inputs.
  """
  pred_frames = pred_frames.map(lambda x: x.reshape((-1,) + x.shape[len(pred_frames.shape):]))
  target_frames = target_frames.map(
      lambda x: x.reshape((-1,) + x.shape[len(target_frames.shape):]))
  frames_mask = jnp.reshape(frames_mask, (-1,)).astype(jnp.float32)        # [F]
  pred_positions = jnp.reshape(pred_positions, (-1, 3))                      # [P, 3]
  target_positions = jnp.reshape(target_positions, (-1, 3))                  # [P, 3]
  positions_mask = jnp.reshape(positions_mask, (-1,)).astype(jnp.float32)  # [P]
  if pred_frames.shape != target_frames.shape or pred_frames.shape != frames_mask.shape:
    raise ValueError('FAPE: pred_frames, target_frames and frames_mask must hold the same '
                     f'number of frames, got {pred_frames.shape}, {target_frames.shape}, '
                     f'{frames_mask.shape}')
  if pred_positions.shape != target_positions.shape or (
      pred_positions.shape[0] != positions_mask.shape[0]):
    raise ValueError('FAPE: pred_positions, target_positions and positions_mask must hold '
                     f'the same number of points, got {pred_positions.shape}, '
                     f'{target_positions.shape}, {positions_mask.shape}')

  # Points expressed in every frame's local coordinates.
  local_pred = pred_frames[:, None].invert_apply(pred_positions[None])        # [F, P, 3]
  local_target = target_frames[:, None].invert_apply(target_positions[None])  # [F, P, 3]
  error = jnp.sqrt(jnp.sum(jnp.square(local_pred - local_target), -1) + epsilon)  # [F, P]
  if l1_clamp_distance is not None:
    error = jnp.minimum(error, l1_clamp_distance)
  normed = error / length_scale * frames_mask[:, None] * positions_mask[None, :]  # [F, P]
  norm = jnp.sum(frames_mask) * jnp.sum(positions_mask)
  return jnp.sum(normed) / (epsilon + norm)


def backbone_fape(
    pred_traj: Rigid, target_frames: Rigid, frames_mask: jnp.ndarray,
    length_scale: float = 10.0, clamp_distance: Optional[float] = 10.0,
    use_clamped_fape: Optional[jnp.ndarray] = None, epsilon: float = 1e-4) -> jnp.ndarray:
  """Per-layer backbone FAPE over the structure-module trajectory (Suppl. Alg. 20 l.17).

  pred_traj: Rigid [K, N] (or [N]); target_frames: Rigid [N]; frames_mask [N].
  Backbone frames double as points (their origins = CA positions).
  use_clamped_fape (scalar in [0, 1], Suppl. Sec. 1.11.5): result =
    f * clamped + (1 - f) * unclamped. None -> clamped only (unless clamp_distance None).
    The paper clamps 90 % of training examples; training/af2_presets.py draws this flag.
  Returns [K] (or a scalar for an unstacked pred_traj).
  """
  def one_layer(frames: Rigid, clamp: Optional[float]) -> jnp.ndarray:
    return frame_aligned_point_error(
        frames, target_frames, frames_mask, frames.trans, target_frames.trans,
        frames_mask, length_scale=length_scale, l1_clamp_distance=clamp, epsilon=epsilon)

  def per_layer(clamp):
    if len(pred_traj.shape) == 1:
      return one_layer(pred_traj, clamp)
    return jax.vmap(lambda f: one_layer(f, clamp))(pred_traj)  # [K]

  fape = per_layer(clamp_distance)
  if use_clamped_fape is not None and clamp_distance is not None:
    frac = jnp.asarray(use_clamped_fape, jnp.float32)
    fape = fape * frac + per_layer(None) * (1. - frac)
  return fape


def _last_layer(tree, layerless_ndim: int):
  """Select the final structure-module layer when a leading layer axis is present."""
  if isinstance(tree, Rigid):
    return tree[-1] if len(tree.shape) > layerless_ndim else tree
  return tree[-1] if tree.ndim > layerless_ndim + 1 else tree


def backbone_target(batch: Mapping[str, jnp.ndarray]) -> Tuple[Rigid, jnp.ndarray]:
  """Ground-truth backbone frames [N] and mask [N] from the batch.

  Uses 'backbone_affine_tensor' ([N, 7] quaternion affine, [N, 12] or [N, 4, 4]) with
  'backbone_affine_mask'; falls back to rigid group 0 of 'rigidgroups_gt_frames'.
  """
  if 'backbone_affine_tensor' in batch:
    return (_frames.to_rigid(batch['backbone_affine_tensor']),
            jnp.asarray(lookup(batch, 'backbone_affine_mask', what='batch'), jnp.float32))
  frames = _frames.to_rigid(lookup(batch, 'rigidgroups_gt_frames', what='batch'))[:, 0]
  return frames, jnp.asarray(lookup(batch, 'rigidgroups_gt_exists', what='batch')[:, 0],
                             jnp.float32)


def backbone_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                  config: LossConfig = LossConfig()):
  """Backbone FAPE averaged over structure-module layers.

  predictions['structure_module']['traj']: per-layer backbone frames [K, N] (Rigid or
  AF2's [K, N, 7] quaternion affines in angstrom). Returns (loss, {'fape': last layer,
  'fape_per_layer': [K]}).
  """
  traj = _frames.to_rigid(lookup(predictions, 'structure_module', 'traj'))
  target, mask = backbone_target(batch)
  fape = backbone_fape(
      traj, target, mask, length_scale=config.fape_length_scale,
      clamp_distance=config.fape_clamp_distance,
      use_clamped_fape=batch.get('use_clamped_fape'), epsilon=config.fape_epsilon)
  fape = jnp.atleast_1d(fape)
  return jnp.mean(fape), {'fape': fape[-1], 'fape_per_layer': fape}


def sidechain_fape(
    pred_frames: Rigid, pred_positions: jnp.ndarray,
    target_frames: Rigid, alt_target_frames: Rigid, frames_mask: jnp.ndarray,
    alt_naming_is_better: jnp.ndarray, renamed_target_positions: jnp.ndarray,
    renamed_positions_mask: jnp.ndarray, length_scale: float = 10.0,
    clamp_distance: Optional[float] = 10.0, epsilon: float = 1e-4) -> jnp.ndarray:
  """All-atom FAPE over all 8 rigid groups with renamed ground truth (Suppl. Alg. 26 l.7).

  pred_frames / target_frames / alt_target_frames: Rigid [N, 8]; frames_mask [N, 8];
  alt_naming_is_better [N]; pred_positions / renamed_target_positions [N, 14, 3];
  renamed_positions_mask [N, 14]. Returns a scalar.
  """
  # Suppl. Alg. 26 line 7: the renamed residues use the alternative rigid-group frames.
  renamed_frames = Rigid(
      rot=rename_by(alt_naming_is_better, target_frames.rot, alt_target_frames.rot),   # [N, 8, 3, 3]
      trans=rename_by(alt_naming_is_better, target_frames.trans, alt_target_frames.trans))
  return frame_aligned_point_error(
      pred_frames, renamed_frames, frames_mask, pred_positions, renamed_target_positions,
      renamed_positions_mask, length_scale=length_scale,
      l1_clamp_distance=clamp_distance, epsilon=epsilon)


def sidechain_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                   config: LossConfig = LossConfig(), renamed: Optional[Mapping] = None):
  """Side-chain FAPE on the final layer (predictions['structure_module']['sidechains']
  'frames' [K, N, 8] and 'atom_pos' [K, N, 14, 3], last layer used).

  `renamed` is compute_renamed_ground_truth's output (computed here when None).
  Returns (loss, {'sidechain_fape', 'alt_naming_is_better'}).
  """
  sidechains = lookup(predictions, 'structure_module', 'sidechains')
  frames = _last_layer(_frames.to_rigid(lookup(sidechains, 'frames')), 2)   # [N, 8]
  atom_pos = _last_layer(_frames.positions_array(lookup(sidechains, 'atom_pos')), 2)
  if renamed is None:
    renamed = compute_renamed_ground_truth(batch, atom_pos)
  fape = sidechain_fape(
      frames, atom_pos,
      _frames.to_rigid(lookup(batch, 'rigidgroups_gt_frames', what='batch')),
      _frames.to_rigid(lookup(batch, 'rigidgroups_alt_gt_frames', what='batch')),
      lookup(batch, 'rigidgroups_gt_exists', what='batch'),
      renamed['alt_naming_is_better'], renamed['renamed_atom14_gt_positions'],
      renamed['renamed_atom14_gt_exists'], length_scale=config.sidechain_length_scale,
      clamp_distance=config.sidechain_clamp_distance, epsilon=config.fape_epsilon)
  return fape, {'sidechain_fape': fape,
                'alt_naming_is_better': renamed['alt_naming_is_better']}
