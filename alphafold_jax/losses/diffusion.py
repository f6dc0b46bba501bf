"""Diffusion losses (pure functions, jit/grad safe): SO(3) score matching or geodesic rotation
loss, translation MSE, backbone FAPE (Suppl. Alg. 28 via losses/fape.py) for SE(3) frame
diffusion (FrameDiff Sec. 4.2), and the EDM weighted MSE with rigid alignment (AF3 Sec. 3.7.1,
Alg. 28 weighted rigid align) for coordinate diffusion.

Units: frames/positions in angstrom. The translation MSE is computed on SCALED translations
(R3Config.coordinate_scale, nm by default), as FrameDiff; FAPE is in units of
fape_length_scale (10 angstrom); the EDM MSE is in angstrom^2 times lambda(sigma).
Shapes: N residues, M atoms; masks [N] / [M]. Each loss returns a scalar.
"""

from __future__ import annotations

from typing import Mapping, Tuple

import jax
import jax.numpy as jnp

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.geometry import rotation, so3
from alphafold_jax.geometry.alignment import kabsch
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.losses.fape import backbone_fape
from alphafold_jax.model.diffusion import edm, r3, se3
from alphafold_jax.model.diffusion.config import (DiffusionLossConfig, EDMConfig,
                                                  SE3DiffusionConfig)


def _masked_mean(values: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
  mask = mask.astype(jnp.float32)
  return jnp.sum(values * mask) / (jnp.sum(mask) + 1e-8)


def rotation_score_loss(pred_rot, true_rot, noisy_rot, t, mask,
                        config: SE3DiffusionConfig) -> jnp.ndarray:
  """Denoising score matching on SO(3): |s(R_t; R0^) - s(R_t; R0)|^2 / E|s|^2, masked mean.

  The scores are igso3 scores at sigma(t) (se3.rotation_score); the normaliser E|s|^2 at
  sigma(t) makes the loss O(1) at every t (FrameDiff's score scaling).
  """
  s_pred = se3.rotation_score(noisy_rot, pred_rot, t, config)  # [N, 3]
  s_true = se3.rotation_score(noisy_rot, true_rot, t, config)  # [N, 3]
  norm = so3.igso3_expected_score_sq_norm(se3.sigma(t, config))
  return _masked_mean(jnp.sum(jnp.square(s_pred - s_true), -1) / norm, mask)


def rotation_geodesic_loss(pred_rot, true_rot, mask) -> jnp.ndarray:
  """Masked mean squared geodesic distance (radians^2) between rotations [N, 3, 3]."""
  return _masked_mean(jnp.square(rotation.relative_angle(pred_rot, true_rot)), mask)


def translation_mse(pred_trans, true_trans, mask, coordinate_scale: float = 0.1) -> jnp.ndarray:
  """Masked mean of |scale (x^ - x)|^2 (scaled units^2; nm^2 by default). [N, 3] inputs."""
  diff = (pred_trans - true_trans) * coordinate_scale
  return _masked_mean(jnp.sum(diff * diff, -1), mask)


def se3_diffusion_loss(pred_frames: Rigid, true_frames: Rigid, noisy_frames: Rigid, t,
                       mask: jnp.ndarray, config: SE3DiffusionConfig,
                       loss_config: DiffusionLossConfig = DiffusionLossConfig()
                       ) -> Tuple[jnp.ndarray, Mapping[str, jnp.ndarray]]:
  """Weighted sum of rotation, translation and backbone FAPE losses -> (loss, metrics)."""
  mask = mask.astype(jnp.float32)
  if loss_config.rotation_loss == 'score':
    rot = rotation_score_loss(pred_frames.rot, true_frames.rot, noisy_frames.rot, t, mask,
                              config)
  else:
    rot = rotation_geodesic_loss(pred_frames.rot, true_frames.rot, mask)
  trans = translation_mse(pred_frames.trans, true_frames.trans, mask,
                          config.r3.coordinate_scale)
  fape = backbone_fape(pred_frames, true_frames, mask,
                       length_scale=loss_config.fape_length_scale,
                       clamp_distance=loss_config.fape_clamp_distance)
  loss = (loss_config.rotation_weight * rot + loss_config.translation_weight * trans
          + loss_config.fape_weight * fape)
  return loss, {'rotation': rot, 'translation': trans, 'fape': fape}


def edm_loss(x_denoised: jnp.ndarray, x_target: jnp.ndarray, sigma, mask: jnp.ndarray,
             config: EDMConfig, align: bool = True) -> jnp.ndarray:
  """lambda(sigma) * masked mean over atoms of |x^ - x_aligned|^2 / 3 (AF3 Eq. 6 without the
  per-molecule-type weights). The target is rigidly aligned onto the (stop-gradient)
  prediction first when `align` (AF3 Alg. 28). x [M, 3], mask [M]."""
  mask = mask.astype(jnp.float32)
  if align:
    frame, _ = kabsch(x_target, jax.lax.stop_gradient(x_denoised), mask)
    x_target = jax.lax.stop_gradient(frame.apply(x_target))
  mse = _masked_mean(jnp.sum(jnp.square(x_denoised - x_target), -1) / 3., mask)
  return edm.loss_weight(sigma, config) * mse


_N, _CA, _C = (rc.atom_order[a] for a in ('N', 'CA', 'C'))


def true_frames(example: Mapping[str, jnp.ndarray]) -> Tuple[Rigid, jnp.ndarray]:
  """AF2 backbone frames of the labels, translations centred over the mask (angstrom).

  Returns (Rigid [N], mask [N]) with mask = seq_mask * N, CA, C resolved.
  """
  pos = example['all_atom_positions']  # [N, 37, 3]
  atom_mask = example['all_atom_mask']  # [N, 37]
  mask = (example['seq_mask'] * atom_mask[:, _N] * atom_mask[:, _CA]
          * atom_mask[:, _C]).astype(jnp.float32)  # [N]
  frames = Rigid.from_backbone(pos[:, _N], pos[:, _CA], pos[:, _C])
  # Identity rotations where the frame is undefined (padding, missing atoms): keeps the
  # masked-out terms of the losses finite.
  rot = jnp.where(mask[:, None, None] > 0, frames.rot, jnp.eye(3, dtype=frames.rot.dtype))
  return Rigid(rot=rot, trans=r3.centre(frames.trans, mask)), mask
