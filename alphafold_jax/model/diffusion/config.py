"""Typed configs for SE(3) frame diffusion and EDM coordinate diffusion (frozen dataclasses).

Units: frames and coordinates are in angstrom at every public boundary. The R3 process runs on
translations multiplied by `R3Config.coordinate_scale` (0.1: nanometres, as FrameDiff and AF2's
structure module), so its unit-variance prior has a 10 angstrom standard deviation per axis.
The EDM process runs directly in angstrom (sigma_data = 16 angstrom, AF3).
"""

from __future__ import annotations

import dataclasses


def _check_positive(obj, *names):
  for name in names:
    value = getattr(obj, name)
    if not isinstance(value, (int, float)) or value <= 0:
      raise ValueError(f'{type(obj).__name__}.{name} must be > 0, got {value!r}')


@dataclasses.dataclass(frozen=True)
class R3Config:
  """Variance-preserving SDE on translations (Song et al. 2021; FrameDiff defaults).

  beta(t) = beta_min + t (beta_max - beta_min), t in [0, 1];
  alpha_bar(t) = exp(-(beta_min t + (beta_max - beta_min) t^2 / 2)).
  coordinate_scale: diffusion units per angstrom (0.1 = nm).
  """
  beta_min: float = 0.1
  beta_max: float = 20.0
  coordinate_scale: float = 0.1

  def __post_init__(self):
    _check_positive(self, 'beta_min', 'beta_max', 'coordinate_scale')
    if self.beta_max < self.beta_min:
      raise ValueError(f'R3Config: beta_max ({self.beta_max}) < beta_min ({self.beta_min})')


@dataclasses.dataclass(frozen=True)
class SO3Config:
  """IGSO3 noise with the log-linear schedule sigma(t) = sigma_min^(1-t) sigma_max^t."""
  sigma_min: float = 0.1
  sigma_max: float = 1.5

  def __post_init__(self):
    _check_positive(self, 'sigma_min', 'sigma_max')
    if self.sigma_max <= self.sigma_min:
      raise ValueError(f'SO3Config: sigma_max ({self.sigma_max}) <= sigma_min ({self.sigma_min})')


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
  """Reverse-time SE(3) sampler.

  num_steps: reverse steps from t = 1 to t = min_t (one lax.scan).
  num_samples: independent samples (vmapped).
  noise_scale: multiplies the stochastic terms (1 = exact reverse SDE / DDPM posterior).
  probability_flow: deterministic ODE variant (SO(3) probability-flow ODE + DDIM on R3).
  self_condition: feed the previous clean-frame prediction back into the denoiser.
  return_trajectory: also return the per-step predicted clean frames.
  """
  num_steps: int = 100
  min_t: float = 0.01
  num_samples: int = 1
  noise_scale: float = 1.0
  probability_flow: bool = False
  self_condition: bool = True
  return_trajectory: bool = False

  def __post_init__(self):
    if not isinstance(self.num_steps, int) or self.num_steps < 1:
      raise ValueError(f'SamplerConfig.num_steps must be an int >= 1, got {self.num_steps!r}')
    if not isinstance(self.num_samples, int) or self.num_samples < 1:
      raise ValueError(f'SamplerConfig.num_samples must be an int >= 1, got {self.num_samples!r}')
    if not 0. < self.min_t < 1.:
      raise ValueError(f'SamplerConfig.min_t must be in (0, 1), got {self.min_t}')
    if self.noise_scale < 0:
      raise ValueError(f'SamplerConfig.noise_scale must be >= 0, got {self.noise_scale}')


@dataclasses.dataclass(frozen=True)
class SE3DiffusionConfig:
  """Everything the SE(3) noise processes and the sampler need."""
  r3: R3Config = dataclasses.field(default_factory=R3Config)
  so3: SO3Config = dataclasses.field(default_factory=SO3Config)
  sampler: SamplerConfig = dataclasses.field(default_factory=SamplerConfig)


@dataclasses.dataclass(frozen=True)
class DenoiserConfig:
  """IPA frame denoiser widths.

  num_block: IPA blocks (separate weights). num_channel: single width c.
  num_pair_channel: pair width fed to IPA. num_time_channel: sinusoidal time features.
  self_condition_bins: distogram bins (angstrom) of the previous prediction's CA distances.
  """
  num_block: int = 4
  num_channel: int = 128
  num_pair_channel: int = 64
  num_time_channel: int = 64
  num_head: int = 8
  num_scalar_qk: int = 16
  num_scalar_v: int = 16
  num_point_qk: int = 4
  num_point_v: int = 8
  num_transition_layer: int = 2
  self_condition_min_bin: float = 3.25
  self_condition_max_bin: float = 20.75
  self_condition_num_bins: int = 22
  coordinate_scale: float = 0.1

  def __post_init__(self):
    for f in dataclasses.fields(self):
      if f.type == 'int':
        _check_positive(self, f.name)
    _check_positive(self, 'coordinate_scale', 'self_condition_min_bin')
    if self.self_condition_max_bin <= self.self_condition_min_bin:
      raise ValueError('DenoiserConfig: self_condition_max_bin must exceed self_condition_min_bin')


@dataclasses.dataclass(frozen=True)
class EDMConfig:
  """AF3-style EDM coordinate diffusion (Karras et al. 2022; Abramson et al. 2024, Alg. 18-20).

  sigma_data: data standard deviation (angstrom). Sampling noise levels
  c_tau = sigma_data (s_max^(1/rho) + tau/T (s_min^(1/rho) - s_max^(1/rho)))^rho.
  Training noise: sigma = sigma_data exp(p_mean + p_std N(0, 1)).
  Stochastic sampler: gamma_0, gamma_min, noise_scale (lambda), step_scale (eta).
  trans_augment: std (angstrom) of the random translation augmentation.
  """
  sigma_data: float = 16.0
  s_max: float = 160.0
  s_min: float = 4e-4
  rho: float = 7.0
  p_mean: float = -1.2
  p_std: float = 1.5
  gamma_0: float = 0.8
  gamma_min: float = 1.0
  noise_scale: float = 1.003
  step_scale: float = 1.5
  num_steps: int = 200
  num_samples: int = 1
  trans_augment: float = 1.0

  def __post_init__(self):
    _check_positive(self, 'sigma_data', 's_max', 's_min', 'rho', 'p_std', 'num_steps',
                    'num_samples', 'step_scale', 'noise_scale')
    if self.s_min >= self.s_max:
      raise ValueError(f'EDMConfig: s_min ({self.s_min}) must be < s_max ({self.s_max})')
    if self.gamma_0 < 0 or self.trans_augment < 0:
      raise ValueError('EDMConfig: gamma_0 and trans_augment must be >= 0')


@dataclasses.dataclass(frozen=True)
class DiffusionLossConfig:
  """Weights of the SE(3) diffusion loss terms (losses.py).

  rotation_loss: 'score' (denoising score matching on SO(3), normalised by E|score|^2) or
  'geodesic' (squared rotation angle between predicted and true clean frames).
  """
  rotation_loss: str = 'score'
  rotation_weight: float = 0.5
  translation_weight: float = 1.0
  fape_weight: float = 1.0
  fape_length_scale: float = 10.0
  fape_clamp_distance: float = 10.0

  def __post_init__(self):
    if self.rotation_loss not in ('score', 'geodesic'):
      raise ValueError(f"DiffusionLossConfig.rotation_loss must be 'score' or 'geodesic', got "
                       f'{self.rotation_loss!r}')
    for name in ('rotation_weight', 'translation_weight', 'fape_weight'):
      if getattr(self, name) < 0:
        raise ValueError(f'DiffusionLossConfig.{name} must be >= 0')
    _check_positive(self, 'fape_length_scale', 'fape_clamp_distance')
