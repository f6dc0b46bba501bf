"""The isotropic Gaussian on SO(3), IGSO3(sigma): density, score, sampling, sigma schedule.

IGSO3 is the law of Brownian motion on SO(3) run for "time" sigma^2, started at the
identity (FrameDiff, Yim et al. 2023, Sec. 2; Leach et al. 2022; Nikolayev & Savyolov 1970).
For small sigma the rotation vector is ~ N(0, sigma^2 I_3). A rotation with angle omega in
[0, pi] (about a uniformly random axis) has, w.r.t. the Haar measure, the density

  f(omega; sigma) = sum_{l >= 0} (2l+1) exp(-l(l+1) sigma^2 / 2) sin((l+1/2) omega) / sin(omega/2)
                                                                       (character expansion)
and the rotation ANGLE has the density on [0, pi]

  p(omega; sigma) = (1 - cos omega) / pi * f(omega; sigma)    (integrates to 1; `igso3_density`).

Numerics. The character series converges fast for large sigma but needs ~7/sigma terms and
cancels catastrophically in the tail for small sigma. Poisson summation of the same series
gives the exact "winding" form (eps = sigma^2 / 2)

  f(omega) = e^{eps/4} sqrt(pi) eps^{-3/2} / (2 sin(omega/2))
             * sum_{k in Z} (-1)^k (omega + 2 pi k) exp(-(omega + 2 pi k)^2 / (4 eps)),

which converges fast for small sigma and is evaluated in log space (no underflow, no
cancellation). Both are exact up to truncation (< 1e-12 relative with the term counts below);
sigma < `_SWITCH_SIGMA` uses the winding form, otherwise the character series. For
sigma >= `_UNIFORM_SIGMA` = 4 the distribution equals the Haar (uniform) law to < 1e-6
(the l = 1 term is 3 exp(-sigma^2)), which is the "uniform limit" used for sampling.

Score. `igso3_score(R, sigma)` is the Riemannian gradient of log f at R, returned as a
rotation vector in the tangent space (the same vector in the body and space trivialisations,
since f depends on the angle only): score = d log f / d omega * log(R) / omega.

Sampling. `igso3_sample` draws the angle by inverse CDF from a quantile table Q[sigma, u]
computed in memory with NumPy (float64, memoised by its arguments; nothing is written to
disk), interpolated bilinearly in (log sigma, u), so sigma may be a traced array inside jit.
Below the table's smallest sigma the quantiles scale linearly with sigma (Gaussian limit),
above its largest they are the uniform-limit (Haar) quantiles.

Schedule. `igso3_sigma_schedule(t)` = sigma_min^(1-t) * sigma_max^t (log-linear, FrameDiff's
0.1 -> 1.5 by default); the forward SDE dR = R hat(g(t) dW) with g(t)^2 = d sigma^2/dt has
IGSO3(R_0, sigma(t)) marginals.

Shapes: omega, sigma broadcast against each other; rotations [..., 3, 3]; scores [..., 3].
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.geometry import rotation

_SWITCH_SIGMA = 1.0  # winding form below, character series at and above.
_NUM_WINDINGS = 3  # k in [-3, 3]: omitted terms < exp(-2 pi^2 * 3 / eps) ~ 1e-50 at eps=0.5.
_NUM_CHAR_TERMS = 24  # l in [0, 23]: omitted terms < exp(-24 * 25 / 2) at sigma = 1.
_UNIFORM_SIGMA = 4.0  # IGSO3(sigma >= 4) == Haar to < 1e-6.
_SMALL_OMEGA = 1e-3  # Taylor expansions below this angle.


# ---------------------------------------------------------------------------------------------
# Density and its log-derivative (array-library agnostic: xp = numpy or jax.numpy).
# ---------------------------------------------------------------------------------------------
def _winding_log_f_and_dlog(omega, sigma, xp):
  """Winding form: (log f, d log f / d omega). Accurate for sigma <= ~1.5."""
  eps = 0.5 * sigma * sigma
  w = xp.maximum(omega, _SMALL_OMEGA)  # the k != 0 corrections are smooth; clamp for 1/omega.
  # log(omega / (2 sin(omega/2))) and h = 1/omega - cot(omega/2)/2, Taylor below _SMALL_OMEGA.
  small = omega < _SMALL_OMEGA
  log_ratio = xp.where(small, omega * omega / 24.,
                       xp.log(w / (2. * xp.sin(0.5 * w))))
  h = xp.where(small, omega / 12. + omega ** 3 / 720.,
               1. / w - 0.5 / xp.tan(0.5 * w))
  # R = sum_{k != 0} (-1)^k (omega + 2 pi k)/omega * exp(-pi k (omega + pi k) / eps), all
  # exponents <= 0 on [0, pi]; R' its omega-derivative.
  r = xp.zeros_like(w)
  dr = xp.zeros_like(w)
  for k in range(-_NUM_WINDINGS, _NUM_WINDINGS + 1):
    if k == 0:
      continue
    sign = -1. if k % 2 else 1.
    e = xp.exp(-np.pi * k * (w + np.pi * k) / eps)
    r = r + sign * (w + 2. * np.pi * k) / w * e
    dr = dr + sign * e * (-2. * np.pi * k / (w * w) - (w + 2. * np.pi * k) * np.pi * k / (eps * w))
  log_f = (eps / 4. + 0.5 * np.log(np.pi) - 1.5 * xp.log(eps) + log_ratio
           - omega * omega / (4. * eps) + xp.log1p(r))
  dlog = h - omega / (2. * eps) + dr / (1. + r)
  return log_f, dlog


def _character_log_f_and_dlog(omega, sigma, xp):
  """Character series: (log f, d log f / d omega). Accurate for sigma >= ~0.7."""
  ls = np.arange(_NUM_CHAR_TERMS, dtype=np.float64)
  shape = (1,) * np.ndim(omega) + (-1,)
  ls = ls.reshape(shape)  # [..., L]
  om = omega[..., None]
  a = (2. * ls + 1.) * xp.exp(-ls * (ls + 1.) * (0.5 * sigma * sigma)[..., None])  # [..., L]
  small = om < _SMALL_OMEGA
  w = xp.maximum(om, _SMALL_OMEGA)
  half = ls + 0.5
  s, c = xp.sin(0.5 * w), xp.cos(0.5 * w)
  chi = xp.where(small, (2. * ls + 1.) * (1. - ls * (ls + 1.) * om * om / 6.),
                 xp.sin(half * w) / s)  # [..., L]
  dchi = xp.where(small, -(2. * ls + 1.) * ls * (ls + 1.) * om / 3.,
                  (half * xp.cos(half * w) * s - 0.5 * xp.sin(half * w) * c) / (s * s))
  f = xp.sum(a * chi, axis=-1)
  df = xp.sum(a * dchi, axis=-1)
  return xp.log(f), df / f


def _log_f_and_dlog(omega, sigma, xp):
  """(log f, d log f/d omega), choosing the numerically exact form per sigma."""
  omega, sigma = xp.broadcast_arrays(xp.asarray(omega), xp.asarray(sigma))
  use_winding = sigma < _SWITCH_SIGMA
  # Feed each branch a harmless sigma where it is not used (keeps gradients finite).
  sig_w = xp.where(use_winding, sigma, 0.5 * _SWITCH_SIGMA)
  sig_c = xp.where(use_winding, 2. * _SWITCH_SIGMA, sigma)
  lw, dw = _winding_log_f_and_dlog(omega, sig_w, xp)
  lc, dc = _character_log_f_and_dlog(omega, sig_c, xp)
  return xp.where(use_winding, lw, lc), xp.where(use_winding, dw, dc)


@jax.jit
def _jnp_log_f_and_dlog(omega, sigma):
  """Jitted jnp evaluation (one compilation per shape instead of one per primitive)."""
  return _log_f_and_dlog(omega, sigma, jnp)


def _check_sigma(sigma) -> None:
  if isinstance(sigma, (int, float, np.ndarray)) and np.any(np.asarray(sigma) <= 0):
    raise ValueError(f'IGSO3: sigma must be > 0, got {sigma}')


def igso3_log_haar_density(omega, sigma) -> jnp.ndarray:
  """log f(omega; sigma): log density w.r.t. the normalised Haar measure of a rotation by omega."""
  _check_sigma(sigma)
  return _jnp_log_f_and_dlog(jnp.asarray(omega, jnp.float32),
                             jnp.asarray(sigma, jnp.float32))[0]


def igso3_density(omega, sigma) -> jnp.ndarray:
  """Density of the rotation ANGLE omega in [0, pi] under IGSO3(sigma) (normalised on [0, pi]).

  p(omega) = (1 - cos omega) / pi * f(omega; sigma). omega and sigma broadcast.
  """
  omega = jnp.asarray(omega, jnp.float32)
  log_f = igso3_log_haar_density(omega, sigma)
  # 1 - cos(omega) = 2 sin^2(omega/2), no cancellation near 0.
  return 2. * jnp.square(jnp.sin(0.5 * omega)) / np.pi * jnp.exp(log_f)


def igso3_dlog_density_domega(omega, sigma) -> jnp.ndarray:
  """d log f / d omega (Haar density; the angle-only part of the score)."""
  _check_sigma(sigma)
  return _jnp_log_f_and_dlog(jnp.asarray(omega, jnp.float32),
                             jnp.asarray(sigma, jnp.float32))[1]


def igso3_score(rotations: jnp.ndarray, sigma) -> jnp.ndarray:
  """Score of IGSO3(sigma) centred at the identity, at `rotations` [..., 3, 3] -> [..., 3].

  The Riemannian gradient of log f as a tangent (rotation) vector:
  d log f/d omega * axis; the same in the body (R exp(x)) and space (exp(x) R)
  trivialisations. Points towards the identity; zero at it. sigma broadcasts to [...].
  """
  _check_sigma(sigma)
  return _score(jnp.asarray(rotations, jnp.float32), jnp.asarray(sigma, jnp.float32))


@jax.jit
def _score(rotations, sigma):
  rotvec = rotation.rot_to_rotvec(rotations)  # [..., 3]
  sq = jnp.sum(rotvec * rotvec, axis=-1)  # [...]
  nonzero = sq > 0.
  omega = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.)), 0.)  # finite grad at 0
  safe = jnp.maximum(omega, 1e-12)
  dlog = _log_f_and_dlog(omega, sigma, jnp)[1]  # [...]
  # dlog ~ -omega * c near 0, so dlog / omega is finite; use its small-angle value there.
  tiny = _log_f_and_dlog(jnp.full_like(omega, 1e-3), sigma, jnp)[1] / 1e-3
  coeff = jnp.where(omega > 1e-6, dlog / safe, tiny)
  return coeff[..., None] * rotvec


@functools.partial(jax.jit, static_argnums=1)
def igso3_expected_score_sq_norm(sigma, num_points: int = 512) -> jnp.ndarray:
  """E|score|^2 = int p(omega) (d log f/d omega)^2 d omega (midpoint rule), for loss weights."""
  omega = (jnp.arange(num_points, dtype=jnp.float32) + 0.5) * (np.pi / num_points)  # [P]
  sigma = jnp.asarray(sigma, jnp.float32)[..., None]
  p = igso3_density(omega, sigma)  # [..., P]
  d = igso3_dlog_density_domega(omega, sigma)
  return jnp.sum(p * d * d, axis=-1) * (np.pi / num_points)


# ---------------------------------------------------------------------------------------------
# Sampling by inverse CDF from an in-memory quantile table.
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class IGSO3Table:
  """Quantiles Q[i, j] of the angle under IGSO3(sigmas[i]) at levels u_j = j / (K - 1).

  log_sigma_min/max: range of the log-spaced sigma grid (len(sigmas) = Q.shape[0]).
  """
  quantiles: np.ndarray  # [S, K] float32
  log_sigma_min: float
  log_sigma_max: float


@functools.lru_cache(maxsize=4)
def igso3_table(sigma_min: float = 0.01, sigma_max: float = _UNIFORM_SIGMA,
                num_sigma: int = 256, num_levels: int = 2049,
                num_omega: int = 2048) -> IGSO3Table:
  """Build the quantile table in NumPy float64 (memoised; a few tens of ms, nothing on disk).

  Each row integrates p(omega; sigma) by the trapezoid rule on [0, min(pi, 14 sigma)]
  (the mass beyond 14 sigma is < 1e-40) and inverts the cumulative sum. The last row
  (sigma_max = 4 by default) is the uniform limit.
  """
  if not 0. < sigma_min < sigma_max:
    raise ValueError(f'igso3_table: need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}')
  sigmas = np.exp(np.linspace(np.log(sigma_min), np.log(sigma_max), num_sigma))  # [S]
  frac = np.linspace(0., 1., num_omega)  # [J]
  omega = np.minimum(np.pi, 14. * sigmas)[:, None] * frac[None, :]  # [S, J]
  sig = np.broadcast_to(sigmas[:, None], omega.shape)  # [S, J]
  wind = sigmas < _SWITCH_SIGMA  # each row evaluated with its own form only (fast)
  log_f = np.empty_like(omega)
  log_f[wind] = _winding_log_f_and_dlog(omega[wind], sig[wind], np)[0]
  log_f[~wind] = _character_log_f_and_dlog(omega[~wind], sig[~wind], np)[0]
  dens = 2. * np.sin(0.5 * omega) ** 2 / np.pi * np.exp(log_f)  # [S, J]
  cdf = np.concatenate([np.zeros((num_sigma, 1)), np.cumsum(
      0.5 * (dens[:, 1:] + dens[:, :-1]) * np.diff(omega, axis=1), axis=1)], axis=1)  # [S, J]
  cdf = cdf / cdf[:, -1:]
  levels = np.linspace(0., 1., num_levels)  # [K]
  quantiles = np.stack([np.interp(levels, cdf[i], omega[i]) for i in range(num_sigma)])
  return IGSO3Table(quantiles=quantiles.astype(np.float32),
                    log_sigma_min=float(np.log(sigma_min)),
                    log_sigma_max=float(np.log(sigma_max)))


def igso3_sample_angle(key: jax.Array, sigma, shape: Sequence[int] = (),
                       table: IGSO3Table | None = None) -> jnp.ndarray:
  """Rotation angles [*shape] ~ p(omega; sigma) by inverse CDF. sigma broadcasts to shape."""
  _check_sigma(sigma)
  table = igso3_table() if table is None else table
  shape = tuple(shape)
  sigma = jnp.broadcast_to(jnp.asarray(sigma, jnp.float32), shape)
  return _sample_angle(key, sigma, table.quantiles, table.log_sigma_min, table.log_sigma_max)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _sample_angle(key, sigma, quantiles, log_sigma_min, log_sigma_max):
  """Bilinear interpolation of the quantile table in (log sigma, u)."""
  q = jnp.asarray(quantiles)  # [S, K]
  num_s, num_k = q.shape
  u = jax.random.uniform(key, sigma.shape, jnp.float32)
  log_s = jnp.log(jnp.maximum(sigma, 1e-30))
  s_pos = (jnp.clip(log_s, log_sigma_min, log_sigma_max) - log_sigma_min) / (
      (log_sigma_max - log_sigma_min) / (num_s - 1))
  i0 = jnp.clip(jnp.floor(s_pos).astype(jnp.int32), 0, num_s - 2)
  ws = s_pos - i0
  k_pos = u * (num_k - 1)
  j0 = jnp.clip(jnp.floor(k_pos).astype(jnp.int32), 0, num_k - 2)
  wk = k_pos - j0
  omega = ((1. - ws) * ((1. - wk) * q[i0, j0] + wk * q[i0, j0 + 1])
           + ws * ((1. - wk) * q[i0 + 1, j0] + wk * q[i0 + 1, j0 + 1]))
  # Gaussian limit below the table: quantiles proportional to sigma.
  below = jnp.exp(log_s - log_sigma_min)
  return jnp.where(log_s < log_sigma_min, omega * below, omega)


def igso3_sample(key: jax.Array, sigma, shape: Sequence[int] = (),
                 table: IGSO3Table | None = None) -> jnp.ndarray:
  """Rotation matrices [*shape, 3, 3] ~ IGSO3(sigma) (centred at the identity).

  Uniform axis on the sphere, angle by inverse CDF. sigma: scalar or broadcastable to shape
  (may be traced). Deterministic for a fixed key.
  """
  key_axis, key_angle = jax.random.split(key)
  shape = tuple(shape)
  omega = igso3_sample_angle(key_angle, sigma, shape, table)
  return _random_axis_rotation(key_axis, omega)


@jax.jit
def _random_axis_rotation(key, omega):
  """Rotation by omega [...] about uniformly random axes -> [..., 3, 3]."""
  axis = jax.random.normal(key, (*omega.shape, 3), jnp.float32)
  axis = axis / jnp.maximum(jnp.linalg.norm(axis, axis=-1, keepdims=True), 1e-12)
  return rotation.rotvec_to_rot(axis * omega[..., None])


# ---------------------------------------------------------------------------------------------
# Log-linear sigma schedule.
# ---------------------------------------------------------------------------------------------
def igso3_sigma_schedule(t, sigma_min: float = 0.1, sigma_max: float = 1.5) -> jnp.ndarray:
  """sigma(t) = sigma_min^(1-t) sigma_max^t for t in [0, 1] (linear in log sigma)."""
  if not 0. < sigma_min < sigma_max:
    raise ValueError(f'IGSO3 schedule: need 0 < sigma_min < sigma_max, got {sigma_min}, '
                     f'{sigma_max}')
  t = jnp.asarray(t, jnp.float32)
  return jnp.exp((1. - t) * np.log(sigma_min) + t * np.log(sigma_max))


def igso3_diffusion_coefficient_sq(t, sigma_min: float = 0.1, sigma_max: float = 1.5):
  """g(t)^2 = d sigma(t)^2 / dt = 2 sigma(t)^2 log(sigma_max / sigma_min)."""
  sigma = igso3_sigma_schedule(t, sigma_min, sigma_max)
  return 2. * sigma * sigma * np.log(sigma_max / sigma_min)
