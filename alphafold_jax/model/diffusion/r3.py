"""Translation (R3) diffusion: variance-preserving SDE, centred noise, exact DDPM posterior.

Units: every function here works on SCALED coordinates x = coordinate_scale * (angstrom)
(R3Config.coordinate_scale = 0.1, i.e. nanometres; FrameDiff's choice), so the prior N(0, I)
has a 10 angstrom standard deviation per axis. `se3.py` does the angstrom <-> scaled conversion.

Forward process (Song et al. 2021 VP-SDE; Ho et al. 2020 in continuous time):
  dx = -beta(t)/2 x dt + sqrt(beta(t)) dW,   beta(t) = beta_min + t (beta_max - beta_min),
  x_t | x_0 ~ N(sqrt(abar_t) x_0, (1 - abar_t) I),  abar_t = exp(-int_0^t beta).
Translations are centred: data are centred over the residue mask and the noise is projected
onto the zero-mean subspace, so for N real residues each coordinate has marginal variance
(1 - abar_t)(1 - 1/N) and the centre of mass stays at 0. Padded residues stay at 0.

Reverse step from t to s < t (exact Gaussian posterior q(x_s | x_t, x_0), DDPM eq. 7 with
alpha_{t|s} = abar_t / abar_s):
  mean = [sqrt(abar_s)(1 - alpha_{t|s}) x_0 + sqrt(alpha_{t|s})(1 - abar_s) x_t] / (1 - abar_t)
  var  = (1 - abar_s)(1 - alpha_{t|s}) / (1 - abar_t)
with x_0 replaced by the denoiser's prediction. The deterministic variant is DDIM (eta = 0).

Shapes: x [..., N, 3], mask [..., N], t and s scalars (or broadcastable to [...]).
"""

from __future__ import annotations

from typing import Optional, Tuple

import jax
import jax.numpy as jnp

from alphafold_jax.model.diffusion.config import R3Config


def integrated_beta(t, config: R3Config) -> jnp.ndarray:
  """int_0^t beta(u) du."""
  t = jnp.asarray(t, jnp.float32)
  return config.beta_min * t + 0.5 * (config.beta_max - config.beta_min) * t * t


def alpha_bar(t, config: R3Config) -> jnp.ndarray:
  """abar_t = exp(-int_0^t beta): the signal variance fraction at time t."""
  return jnp.exp(-integrated_beta(t, config))


def _mask(x: jnp.ndarray, mask: Optional[jnp.ndarray]) -> jnp.ndarray:
  if mask is None:
    return jnp.ones(x.shape[:-1], x.dtype)
  if mask.shape != x.shape[:-1]:
    raise ValueError(f'r3: mask shape {mask.shape} does not match positions {x.shape[:-1]}')
  return mask.astype(x.dtype)


def centre(x: jnp.ndarray, mask: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """Subtract the masked mean over residues; padded positions set to 0. x [..., N, 3]."""
  m = _mask(x, mask)[..., None]  # [..., N, 1]
  mean = jnp.sum(x * m, axis=-2, keepdims=True) / jnp.maximum(
      jnp.sum(m, axis=-2, keepdims=True), 1.)  # [..., 1, 3]
  return (x - mean) * m


def centred_noise(key: jax.Array, shape, mask: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """Standard normal noise [..., N, 3] projected to zero masked mean (0 at padding)."""
  z = jax.random.normal(key, tuple(shape), jnp.float32)
  return centre(z, mask)


def forward_sample(key: jax.Array, x0: jnp.ndarray, t, mask: Optional[jnp.ndarray],
                   config: R3Config) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """x_t ~ q(x_t | x_0) with centred x_0 and noise. Returns (x_t, noise), both [..., N, 3]."""
  x0 = centre(x0, mask)
  z = centred_noise(key, x0.shape, mask)
  abar = jnp.asarray(alpha_bar(t, config))[..., None, None]
  return jnp.sqrt(abar) * x0 + jnp.sqrt(1. - abar) * z, z


def score(x_t: jnp.ndarray, x0: jnp.ndarray, t, config: R3Config) -> jnp.ndarray:
  """grad log q(x_t | x_0) = -(x_t - sqrt(abar) x_0) / (1 - abar)."""
  abar = jnp.asarray(alpha_bar(t, config))[..., None, None]
  return -(x_t - jnp.sqrt(abar) * x0) / (1. - abar)


def posterior_mean_var(x_t: jnp.ndarray, x0: jnp.ndarray, t, s,
                       config: R3Config) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Exact q(x_s | x_t, x_0) for s < t: mean [..., N, 3] and variance (scalar per [...])."""
  abar_t = alpha_bar(t, config)
  abar_s = alpha_bar(s, config)
  alpha_ts = abar_t / abar_s  # alpha_{t|s}
  denom = 1. - abar_t
  coef_x0 = (jnp.sqrt(abar_s) * (1. - alpha_ts) / denom)[..., None, None]
  coef_xt = (jnp.sqrt(alpha_ts) * (1. - abar_s) / denom)[..., None, None]
  var = (1. - abar_s) * (1. - alpha_ts) / denom
  return coef_x0 * x0 + coef_xt * x_t, var


def ddim_step(x_t: jnp.ndarray, x0: jnp.ndarray, t, s, config: R3Config) -> jnp.ndarray:
  """Deterministic DDIM (eta = 0) step: keep the implied noise, move x_0's share to abar_s."""
  abar_t = jnp.asarray(alpha_bar(t, config))[..., None, None]
  abar_s = jnp.asarray(alpha_bar(s, config))[..., None, None]
  eps = (x_t - jnp.sqrt(abar_t) * x0) / jnp.sqrt(1. - abar_t)  # [..., N, 3]
  return jnp.sqrt(abar_s) * x0 + jnp.sqrt(1. - abar_s) * eps


def reverse_step(key: jax.Array, x_t: jnp.ndarray, x0_pred: jnp.ndarray, t, s,
                 mask: Optional[jnp.ndarray], config: R3Config, noise_scale: float = 1.,
                 probability_flow: bool = False) -> jnp.ndarray:
  """One reverse step t -> s (s < t) given the denoiser's x_0 prediction; result centred.

  Stochastic: a draw from the exact DDPM posterior (noise multiplied by noise_scale).
  probability_flow=True: the DDIM step (no noise). Padded positions stay 0.
  """
  x_t = centre(x_t, mask)
  x0_pred = centre(x0_pred, mask)
  if probability_flow:
    return centre(ddim_step(x_t, x0_pred, t, s, config), mask)
  mean, var = posterior_mean_var(x_t, x0_pred, t, s, config)
  z = centred_noise(key, x_t.shape, mask)
  return centre(mean + noise_scale * jnp.sqrt(var)[..., None, None] * z, mask)
