"""AF3-style EDM coordinate diffusion over backbone atoms (Karras et al. 2022, "EDM";
Abramson et al. 2024, AF3 Suppl. Alg. 18 sampler, Alg. 19 augmentation, Alg. 20 / Sec. 3.7
preconditioning and noise distribution).

Units: ANGSTROM throughout (no internal scaling); sigma_data = 16 angstrom.
Positions: x [M, 3] with M = 3 N backbone atoms ordered (N, CA, C) per residue, i.e.
backbone [N, 3, 3].reshape(M, 3); atom mask [M] = seq_mask repeated 3 times.

Preconditioning (EDM Table 1):  D(x; sigma) = c_skip x + c_out F(c_in x, c_noise) with
  c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
  c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = log(sigma / sd) / 4;
training weight lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2, training noise
sigma = sd exp(p_mean + p_std N(0, 1)).
DISCREPANCY: AF3's network receives c_noise = log(sigma/sd)/4 as here; EDM's original uses
log(sigma)/4 (no sd) - identical up to a constant shift of the input feature.

Sampler (AF3 Alg. 18), noise levels c_tau = sd (s_max^(1/rho) + tau/T (s_min^(1/rho) -
s_max^(1/rho)))^rho, tau = 0..T; each step: centre + random rigid augmentation; churn
gamma = gamma_0 if c_{tau} > gamma_min else 0; t^ = c_{tau-1}(gamma + 1);
x^ = x + noise_scale sqrt(t^2 - c_{tau-1}^2) z; delta = (x^ - D(x^; t^)) / t^;
x <- x^ + step_scale (c_tau - t^) delta.
"""

from __future__ import annotations

import functools
from typing import Callable, Mapping, Tuple

import jax
import jax.numpy as jnp

from alphafold_jax.geometry import rotation
from alphafold_jax.model.diffusion import r3
from alphafold_jax.model.diffusion.config import EDMConfig

# denoise_fn(x_noisy [M, 3], sigma scalar, batch) -> x_denoised [M, 3] (angstrom)
EDMDenoiseFn = Callable[[jnp.ndarray, jnp.ndarray, Mapping], jnp.ndarray]


def sampling_noise_levels(config: EDMConfig) -> jnp.ndarray:
  """c_0 > c_1 > ... > c_T (angstrom), [num_steps + 1]."""
  tau = jnp.linspace(0., 1., config.num_steps + 1)  # [T + 1]
  inv = 1. / config.rho
  base = config.s_max ** inv + tau * (config.s_min ** inv - config.s_max ** inv)
  return config.sigma_data * base ** config.rho


def sample_training_sigma(key: jax.Array, shape, config: EDMConfig) -> jnp.ndarray:
  """sigma = sd exp(p_mean + p_std N(0, 1)) (AF3 Sec. 3.7.1)."""
  z = jax.random.normal(key, tuple(shape), jnp.float32)
  return config.sigma_data * jnp.exp(config.p_mean + config.p_std * z)


def preconditioning(sigma, config: EDMConfig) -> Tuple[jnp.ndarray, ...]:
  """(c_skip, c_out, c_in, c_noise) for noise level(s) sigma."""
  sigma = jnp.asarray(sigma, jnp.float32)
  sd = config.sigma_data
  norm = jnp.sqrt(sigma * sigma + sd * sd)
  return sd * sd / (norm * norm), sigma * sd / norm, 1. / norm, 0.25 * jnp.log(sigma / sd)


def precondition(network_fn: Callable, config: EDMConfig) -> EDMDenoiseFn:
  """Wrap a raw network F(x_in [M, 3], c_noise, batch) -> [M, 3] into the denoiser D."""
  def denoise(x_noisy, sigma, batch):
    c_skip, c_out, c_in, c_noise = preconditioning(sigma, config)
    return c_skip * x_noisy + c_out * network_fn(c_in * x_noisy, c_noise, batch)
  return denoise


def loss_weight(sigma, config: EDMConfig) -> jnp.ndarray:
  """lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2."""
  sigma = jnp.asarray(sigma, jnp.float32)
  sd = config.sigma_data
  return (sigma * sigma + sd * sd) / jnp.square(sigma * sd)


def centre_random_augmentation(key: jax.Array, x: jnp.ndarray, mask: jnp.ndarray,
                               trans_std: float = 1.0) -> jnp.ndarray:
  """AF3 Alg. 19: centre over the mask, apply a Haar-random rotation and a N(0, trans_std^2)
  translation. x [M, 3] -> [M, 3]; masked atoms stay at 0."""
  key_rot, key_trans = jax.random.split(key)
  x = r3.centre(x, mask)
  rot = rotation.random_rotation(key_rot)  # [3, 3]
  trans = trans_std * jax.random.normal(key_trans, (3,), jnp.float32)
  return (jnp.einsum('ij,mj->mi', rot, x) + trans) * mask[:, None]


def training_inputs(key: jax.Array, x_true: jnp.ndarray, mask: jnp.ndarray,
                    config: EDMConfig) -> Tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
  """(x_noisy, sigma, x_target): augmented ground truth, one sigma, x_noisy = x_target + sigma z."""
  key_aug, key_sigma, key_noise = jax.random.split(key, 3)
  mask = mask.astype(jnp.float32)
  target = centre_random_augmentation(key_aug, x_true, mask, config.trans_augment)
  sigma = sample_training_sigma(key_sigma, (), config)
  noise = jax.random.normal(key_noise, x_true.shape, jnp.float32) * mask[:, None]
  return target + sigma * noise, sigma, target


def backbone_atom_mask(seq_mask: jnp.ndarray) -> jnp.ndarray:
  """[N] -> [3 N] (N, CA, C per residue)."""
  return jnp.repeat(seq_mask.astype(jnp.float32), 3)


def sample(denoise_fn: EDMDenoiseFn, batch: Mapping[str, jnp.ndarray], key: jax.Array,
           config: EDMConfig) -> dict:
  """AF3 Alg. 18 as one lax.scan, vmapped over config.num_samples; deterministic for a key.

  batch: 'seq_mask' [N] (+ whatever denoise_fn reads). Returns
  {'positions': [S, 3N, 3], 'backbone': [S, N, 3, 3]} in angstrom, centred, padding at 0.
  """
  if 'seq_mask' not in batch:
    raise ValueError("EDM sample: batch needs 'seq_mask' [N]")
  seq_mask = jnp.asarray(batch['seq_mask'], jnp.float32)
  if seq_mask.ndim != 1:
    raise ValueError(f"EDM sample: 'seq_mask' must be [N], got shape {seq_mask.shape}")
  mask = backbone_atom_mask(seq_mask)  # [M]
  m = mask.shape[0]
  levels = sampling_noise_levels(config)  # [T + 1]

  def one_sample(sample_key):
    key_init, key_steps = jax.random.split(sample_key)
    x = levels[0] * jax.random.normal(key_init, (m, 3), jnp.float32) * mask[:, None]

    def body(x, xs):
      c_prev, c_cur, step_key = xs
      key_aug, key_noise = jax.random.split(step_key)
      x = centre_random_augmentation(key_aug, x, mask, config.trans_augment)
      gamma = jnp.where(c_cur > config.gamma_min, config.gamma_0, 0.)
      t_hat = c_prev * (gamma + 1.)
      # sqrt(t^2 - c_prev^2) = c_prev sqrt(gamma (gamma + 2)): exactly 0 at gamma = 0 (the
      # difference of squares can round below 0 under jit and give NaN).
      xi = config.noise_scale * c_prev * jnp.sqrt(gamma * (gamma + 2.)) * jax.random.normal(
          key_noise, (m, 3), jnp.float32)
      x_noisy = x + xi * mask[:, None]
      x_denoised = denoise_fn(x_noisy, t_hat, batch)
      delta = (x_noisy - x_denoised) / t_hat
      x = (x_noisy + config.step_scale * (c_cur - t_hat) * delta) * mask[:, None]
      return x, None

    xs = (levels[:-1], levels[1:], jax.random.split(key_steps, config.num_steps))
    x, _ = jax.lax.scan(body, x, xs)
    x = r3.centre(x, mask)
    return {'positions': x, 'backbone': x.reshape(-1, 3, 3)}

  return jax.vmap(one_sample)(jax.random.split(key, config.num_samples))


def make_sampler(denoise_fn: EDMDenoiseFn, config: EDMConfig):
  """jit-compiled `(batch, key) -> samples`."""
  return jax.jit(functools.partial(sample, denoise_fn, config=config))
