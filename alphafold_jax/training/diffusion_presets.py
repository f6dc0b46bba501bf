"""`nano_diffusion`: the training objective and preset contracts of the diffusion model.

The model (Pairformer trunk + IPA frame denoiser + sampler) is model/diffusion/trunk.py; the
pure losses are losses/diffusion.py. This file only wires them into the per-example training
loss: the trunk runs ONCE and the denoiser sees `num_noise_samples` independent noise levels
t ~ U[min_t, 1] of the true backbone frames (the trunk cost is shared, as AF3 does with its
diffusion batch); loss = mean over them of `losses.diffusion.se3_diffusion_loss` (SO(3) score
matching + translation MSE + backbone FAPE) + distogram_weight * distogram cross-entropy.
Self-conditioning (FrameDiff): with probability `self_condition_rate` a first stop-gradient
denoiser pass feeds its prediction back.

The true frames are AF2 backbone frames (`Rigid.from_backbone(N, CA, C)`) in angstrom, centred
over residues whose N, CA and C are all resolved (the diffusion mask); the denoiser is
SE(3)-equivariant, so no rotation augmentation is needed.
"""

from __future__ import annotations

from typing import Dict, Mapping, Tuple

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.losses import diffusion as diffusion_losses
from alphafold_jax.losses.distogram import distogram_cross_entropy
from alphafold_jax.model.diffusion import se3
from alphafold_jax.model.diffusion.trunk import (DiffusionModelConfig, DiffusionTrunk,  # noqa: F401
                                                 make_model, predict, predict_ca,
                                                 small_pairformer_block)
from alphafold_jax.model.embedders import pseudo_beta_fn


def diffusion_loss(model: hk.MultiTransformed, config: DiffusionModelConfig, params,
                   example: Mapping[str, jnp.ndarray], rng: jax.Array
                   ) -> Tuple[jnp.ndarray, Dict[str, jnp.ndarray]]:
  """Per-example training loss (module docstring) -> (loss, metrics)."""
  trunk_apply, denoise_apply = model.apply
  key_trunk, key_noise = jax.random.split(rng)
  trunk = trunk_apply(params, key_trunk, example, True)
  frames0, mask = diffusion_losses.true_frames(example)
  diff_cfg = config.diffusion
  use_self_cond = diff_cfg.sampler.self_condition

  def one_noise_level(key):
    key_t, key_x, key_sc = jax.random.split(key, 3)
    t = jax.random.uniform(key_t, (), jnp.float32, config.min_t, 1.)
    noisy = se3.forward_sample(key_x, frames0, t, mask, diff_cfg)  # Rigid [N]

    def denoise(self_cond, valid):
      return denoise_apply(params, None, noisy, t, trunk['single'], trunk['pair'], mask,
                           self_cond, valid)['frames']

    self_cond, valid = noisy, jnp.zeros((), jnp.float32)
    if use_self_cond and config.self_condition_rate > 0:
      valid = jax.random.bernoulli(key_sc, config.self_condition_rate).astype(jnp.float32)
      first = jax.tree.map(jax.lax.stop_gradient, denoise(noisy, jnp.zeros((), jnp.float32)))
      self_cond = jax.tree.map(lambda a, b: valid * a + (1. - valid) * b, first, noisy)
    pred = denoise(self_cond, valid)
    loss, metrics = diffusion_losses.se3_diffusion_loss(pred, frames0, noisy, t, mask, diff_cfg,
                                                        config.losses)
    return loss, metrics

  keys = jax.random.split(key_noise, config.num_noise_samples)
  losses, metrics = jax.vmap(one_noise_level)(keys)  # [K], {name: [K]}
  loss = jnp.mean(losses)
  metrics = {f'diffusion_{k}': jnp.mean(v) for k, v in metrics.items()}
  metrics['diffusion_loss'] = loss
  if config.distogram_weight:
    beta, beta_mask = pseudo_beta_fn(example['aatype'], example['all_atom_positions'],
                                     example['all_atom_mask'])
    dgram = distogram_cross_entropy(trunk['distogram']['logits'], trunk['distogram']['bin_edges'],
                                    beta, beta_mask * example['seq_mask'])
    metrics['distogram_loss'] = dgram
    loss = loss + config.distogram_weight * dgram
  return loss, metrics


def build(config: DiffusionModelConfig):
  """(init, loss_fn, predict_ca) with the training/presets.py contracts."""
  model = make_model(config)

  def init(rng, example):
    return model.init(rng, dict(example))

  def loss_fn(params, example, rng, num_recycle):
    del num_recycle  # no recycling in this preset
    return diffusion_loss(model, config, params, example, rng)

  def predict_fn(params, example, rng):
    return predict_ca(model, config, params, example, rng)

  return init, loss_fn, predict_fn
