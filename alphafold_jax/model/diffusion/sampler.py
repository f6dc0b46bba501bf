"""Reverse-time SE(3) sampler: one `lax.scan` over steps, vmapped over samples.

`sample(denoise_fn, batch, key, config)` is a pure function (jit it with `make_sampler` or
`jax.jit(functools.partial(sample, denoise_fn, config=config))`). Deterministic for a key.

Contract of `denoise_fn` (e.g. `denoiser.make_denoise_fn`):
  denoise_fn(noisy_frames: Rigid [N] angstrom, t: f32 scalar, batch: dict,
             self_cond: Rigid [N] angstrom, self_cond_valid: f32 scalar) -> Rigid [N] angstrom
returning the predicted CLEAN frames. self_cond is the previous step's prediction (the noisy
frames with self_cond_valid = 0 at the first step or when self-conditioning is off).

batch: 'seq_mask' [N] (required), 'aatype' [N] (optional, for the ideal backbone), plus
whatever the denoiser reads (trunk 'single' [N, c_s], 'pair' [N, N, c_z], ...).

Time grid: t_k = linspace(1, min_t, num_steps + 1); step k goes t_k -> t_{k+1} with
se3.reverse_step (geodesic random walk + DDPM posterior, or the ODE/DDIM variant); the output
is the denoiser's clean prediction at t = min_t, translations centred over the mask.

Returns a dict with a leading [num_samples] axis:
  'frames'    Rigid [S, N]        angstrom, padded residues = identity at the origin
  'backbone'  [S, N, 3, 3]        (N, CA, C) angstrom, padded residues = 0
  'trajectory' Rigid [S, num_steps, N]  (only if config.sampler.return_trajectory)
"""

from __future__ import annotations

import functools
from typing import Callable, Mapping

import jax
import jax.numpy as jnp

from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model.diffusion import r3, se3
from alphafold_jax.model.diffusion.backbone import frames_to_backbone
from alphafold_jax.model.diffusion.config import SE3DiffusionConfig

DenoiseFn = Callable[[Rigid, jnp.ndarray, Mapping, Rigid, jnp.ndarray], Rigid]


def _clean_padding(frames: Rigid, mask: jnp.ndarray) -> Rigid:
  m = mask[:, None, None]
  rot = m * frames.rot + (1. - m) * jnp.eye(3, dtype=frames.rot.dtype)
  return Rigid(rot=rot, trans=r3.centre(frames.trans, mask))


def sample(denoise_fn: DenoiseFn, batch: Mapping[str, jnp.ndarray], key: jax.Array,
           config: SE3DiffusionConfig) -> dict:
  """Draw config.sampler.num_samples structures. See the module docstring."""
  if 'seq_mask' not in batch:
    raise ValueError("diffusion sample: batch needs 'seq_mask' [N]")
  mask = jnp.asarray(batch['seq_mask'], jnp.float32)
  if mask.ndim != 1:
    raise ValueError(f"diffusion sample: 'seq_mask' must be [N], got shape {mask.shape}")
  n = mask.shape[0]
  aatype = batch.get('aatype')
  sc = config.sampler
  ts = jnp.linspace(1.0, sc.min_t, sc.num_steps + 1, dtype=jnp.float32)  # [K + 1]
  self_cond_on = 1.0 if sc.self_condition else 0.0

  def one_sample(sample_key):
    key_prior, key_steps = jax.random.split(sample_key)
    frames = se3.sample_prior(key_prior, (n,), mask, config)  # Rigid [N]

    def body(carry, xs):
      frames_t, prev, prev_valid = carry
      t, s, step_key = xs
      pred = denoise_fn(frames_t, t, batch, prev, prev_valid)
      frames_s = se3.reverse_step(step_key, frames_t, pred, t, s, mask, config,
                                  sc.noise_scale, sc.probability_flow)
      out = pred if sc.return_trajectory else None
      return (frames_s, pred, jnp.asarray(self_cond_on, jnp.float32)), out

    init = (frames, frames, jnp.zeros((), jnp.float32))
    xs = (ts[:-1], ts[1:], jax.random.split(key_steps, sc.num_steps))
    (frames, prev, prev_valid), traj = jax.lax.scan(body, init, xs)
    final = _clean_padding(denoise_fn(frames, ts[-1], batch, prev, prev_valid), mask)
    out = {'frames': final, 'backbone': frames_to_backbone(final, aatype, mask)}
    if sc.return_trajectory:
      out['trajectory'] = traj
    return out

  return jax.vmap(one_sample)(jax.random.split(key, sc.num_samples))


def make_sampler(denoise_fn: DenoiseFn, config: SE3DiffusionConfig):
  """jit-compiled `(batch, key) -> samples` for a fixed denoiser and config."""
  return jax.jit(functools.partial(sample, denoise_fn, config=config))
