"""SE(3) frame diffusion = IGSO3 on rotations x VP-SDE on translations (FrameDiff, Yim et al. 2023).

Frames are `Rigid`s with translations in ANGSTROM at this module's boundary; the translation
process runs on translations * R3Config.coordinate_scale (nm by default, see r3.py).

Forward marginal at t in [0, 1] (independent per residue, rotations and translations
independent):  R_t = R_0 E,  E ~ IGSO3(sigma(t)),  sigma(t) = sigma_min^(1-t) sigma_max^t;
x_t ~ N(sqrt(abar_t) x_0, (1 - abar_t) I) on centred translations.

Reverse step t -> s = t - dt given the denoiser's clean frames (R_0^, x_0^):
  rotations: geodesic random walk (Euler-Maruyama of the reverse SDE on SO(3), De Bortoli
    et al. 2022) in the body frame:
        R_s = R_t exp(hat(g^2 score dt + noise_scale g sqrt(dt) z)),   z ~ N(0, I_3),
    g^2 = d sigma^2/dt, score = igso3_score(R_0^T R_t, sigma(t)) (the IGSO3(R_0^, sigma(t))
    score at R_t). The probability-flow ODE variant uses R_s = R_t exp(hat(g^2 score dt / 2)).
  translations: the exact DDPM posterior draw (or DDIM), r3.reverse_step.
Everything is equivariant: a global rigid motion of R_t, x_t and the prediction moves R_s, x_s
by the same motion (the body-frame update depends only on R_0^T R_t), except that translations
are re-centred over the mask.

Shapes: frames Rigid [..., N]; mask [..., N]; t, s scalars.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from alphafold_jax.geometry import rotation, so3
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model.diffusion import r3
from alphafold_jax.model.diffusion.config import SE3DiffusionConfig


def _mask(frames: Rigid, mask: Optional[jnp.ndarray]) -> jnp.ndarray:
  if mask is None:
    return jnp.ones(frames.shape, jnp.float32)
  if tuple(mask.shape) != tuple(frames.shape):
    raise ValueError(f'se3: mask shape {mask.shape} does not match frames {frames.shape}')
  return mask.astype(jnp.float32)


def _masked_rot(new_rot, old_rot, mask):
  """Keep old rotations at padded positions."""
  m = mask[..., None, None]
  return m * new_rot + (1. - m) * old_rot


def sigma(t, config: SE3DiffusionConfig) -> jnp.ndarray:
  """IGSO3 noise level sigma(t) of the rotation process."""
  return so3.igso3_sigma_schedule(t, config.so3.sigma_min, config.so3.sigma_max)


def forward_sample(key: jax.Array, frames0: Rigid, t, mask: Optional[jnp.ndarray],
                   config: SE3DiffusionConfig) -> Rigid:
  """Noised frames ~ q(T_t | T_0) (angstrom in and out); translations centred over mask."""
  mask = _mask(frames0, mask)
  key_rot, key_trans = jax.random.split(key)
  noise = so3.igso3_sample(key_rot, sigma(t, config), frames0.shape)  # [..., N, 3, 3]
  rot_t = _masked_rot(frames0.rot @ noise, frames0.rot, mask)
  scale = config.r3.coordinate_scale
  x_t, _ = r3.forward_sample(key_trans, frames0.trans * scale, t, mask, config.r3)
  return Rigid(rot=rot_t, trans=x_t / scale)


def rotation_score(rot_t: jnp.ndarray, rot0: jnp.ndarray, t,
                   config: SE3DiffusionConfig) -> jnp.ndarray:
  """Body-frame score of IGSO3(rot0, sigma(t)) at rot_t: [..., 3, 3] x2 -> [..., 3]."""
  relative = jnp.einsum('...ji,...jk->...ik', rot0, rot_t)  # rot0^T rot_t
  return so3.igso3_score(relative, sigma(t, config))


def translation_score(trans_t: jnp.ndarray, trans0: jnp.ndarray, t,
                      config: SE3DiffusionConfig) -> jnp.ndarray:
  """Score of q(x_t | x_0) w.r.t. the SCALED translations (angstrom inputs)."""
  scale = config.r3.coordinate_scale
  return r3.score(trans_t * scale, trans0 * scale, t, config.r3)


def reverse_step(key: jax.Array, frames_t: Rigid, frames0_pred: Rigid, t, s,
                 mask: Optional[jnp.ndarray], config: SE3DiffusionConfig,
                 noise_scale: float = 1., probability_flow: bool = False) -> Rigid:
  """One reverse step t -> s < t (angstrom in and out). Padded frames are left unchanged
  in rotation and set to the origin in translation."""
  mask = _mask(frames_t, mask)
  key_rot, key_trans = jax.random.split(key)
  dt = jnp.asarray(t, jnp.float32) - jnp.asarray(s, jnp.float32)
  g2 = so3.igso3_diffusion_coefficient_sq(t, config.so3.sigma_min, config.so3.sigma_max)
  score = rotation_score(frames_t.rot, frames0_pred.rot, t, config)  # [..., N, 3]
  if probability_flow:
    step = 0.5 * g2 * dt * score
  else:
    z = jax.random.normal(key_rot, score.shape, jnp.float32)
    step = g2 * dt * score + noise_scale * jnp.sqrt(g2 * dt) * z
  rot_s = _masked_rot(frames_t.rot @ rotation.rotvec_to_rot(step), frames_t.rot, mask)

  scale = config.r3.coordinate_scale
  x_s = r3.reverse_step(key_trans, frames_t.trans * scale, frames0_pred.trans * scale, t, s,
                        mask, config.r3, noise_scale, probability_flow)
  return Rigid(rot=rot_s, trans=x_s / scale)


def sample_prior(key: jax.Array, shape, mask: Optional[jnp.ndarray],
                 config: SE3DiffusionConfig) -> Rigid:
  """Reference distribution at t = 1: Haar-uniform rotations (FrameDiff; IGSO3(sigma_max)
  about an unknown R_0 is close to uniform) and centred N(0, I) scaled translations."""
  shape = tuple(shape)
  key_rot, key_trans = jax.random.split(key)
  rot = rotation.random_rotation(key_rot, shape)
  if mask is not None:
    rot = _masked_rot(rot, jnp.broadcast_to(jnp.eye(3), rot.shape), mask.astype(jnp.float32))
  trans = r3.centred_noise(key_trans, (*shape, 3), mask) / config.r3.coordinate_scale
  return Rigid(rot=rot, trans=trans)
