"""IPA frame denoiser for SE(3) diffusion (FrameDiff's score network, Yim et al. 2023, Sec. 4,
built from AF2's Invariant Point Attention, Suppl. Alg. 22, and backbone update, Alg. 23).

Inputs: noisy frames T_t (Rigid [N], angstrom), diffusion time t, trunk single [N, c_s] and
pair [N, N, c_z] representations, residue mask [N], optionally the previous clean prediction
(self-conditioning). Output: predicted clean frames T_0^ (Rigid [N], angstrom).

SE(3)-equivariant by construction: every feature the network sees is invariant (trunk
features, time, IPA attention and its local-frame outputs, distances of the self-conditioning
CA positions) and the frames are only updated by composing local updates on the right,
T <- T o dT (Alg. 23). Hence a global motion G of the noisy frames maps the prediction to
G o T_0^. Inside the network translations are multiplied by config.coordinate_scale (0.1 -> nm,
as AF2's structure module). Padded residues (mask 0) are not attended to and keep their
input frames.

Shapes: N = residues, c = num_channel, c_z' = num_pair_channel, b = self-conditioning bins.
"""

from __future__ import annotations

from typing import Mapping, Optional

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model.diffusion.config import DenoiserConfig
from alphafold_jax.model.ipa import InvariantPointAttention, InvariantPointAttentionConfig
from alphafold_jax.model.structure_module import backbone_update
from alphafold_jax.nn import LayerNorm, Linear, final_init


def timestep_embedding(t: jnp.ndarray, num_channel: int, max_period: float = 10000.) -> jnp.ndarray:
  """Sinusoidal features of t in [0, 1] (scaled by 1000 as in DDPM): scalar -> [num_channel]."""
  half = num_channel // 2
  freqs = jnp.exp(-np.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)  # [c/2]
  angles = 1000. * jnp.asarray(t, jnp.float32) * freqs  # [c/2]
  emb = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)])
  if num_channel % 2:
    emb = jnp.concatenate([emb, jnp.zeros((1,), jnp.float32)])
  return emb  # [num_channel]


def _distogram_one_hot(positions: jnp.ndarray, config: DenoiserConfig) -> jnp.ndarray:
  """One-hot of pairwise distances (angstrom) [N, 3] -> [N, N, b]."""
  bounds = jnp.linspace(config.self_condition_min_bin, config.self_condition_max_bin,
                        config.self_condition_num_bins - 1)  # [b - 1]
  d2 = jnp.sum(jnp.square(positions[:, None] - positions[None, :]), axis=-1)  # [N, N]
  index = jnp.sum(d2[..., None] > jnp.square(bounds), axis=-1)  # [N, N]
  return jax.nn.one_hot(index, config.self_condition_num_bins, dtype=jnp.float32)  # [N, N, b]


class DenoiserBlock(hk.Module):
  """IPA -> LayerNorm -> transition -> LayerNorm -> backbone update (Alg. 20 lines 6-10)."""

  def __init__(self, config: DenoiserConfig, global_config: GlobalConfig, name: str):
    super().__init__(name=name)
    self.c, self.gc = config, global_config

  def __call__(self, act, pair, mask, frames_nm: Rigid):
    # act [N, c], pair [N, N, c_z'], mask [N], frames_nm Rigid [N] (nm)
    c = self.c
    ipa_config = InvariantPointAttentionConfig(
        num_head=c.num_head, num_scalar_qk=c.num_scalar_qk, num_scalar_v=c.num_scalar_v,
        num_point_qk=c.num_point_qk, num_point_v=c.num_point_v, num_channel=c.num_channel)
    act = act + InvariantPointAttention(ipa_config, self.gc)(act, pair, mask, frames_nm)
    act = LayerNorm(name='attention_layer_norm')(act)
    final = final_init(self.gc)
    x = act
    for i in range(c.num_transition_layer):
      last = i == c.num_transition_layer - 1
      x = Linear(c.num_channel, initializer=final if last else 'relu',
                 name=f'transition_{i}')(x)  # [N, c]
      if not last:
        x = jax.nn.relu(x)
    act = LayerNorm(name='transition_layer_norm')(act + x)
    update = Linear(6, initializer=final, name='affine_update')(act)  # [N, 6]
    update = update * mask[:, None]  # padded residues keep their frames
    return act, backbone_update(frames_nm, update)


class FrameDenoiser(hk.Module):
  """Predicts clean frames from noisy frames + trunk conditioning + time (see module doc).

  Call: (noisy_frames Rigid [N] angstrom, t scalar, single [N, c_s], pair [N, N, c_z],
         mask [N], self_cond Rigid [N] angstrom or None, self_cond_valid scalar in {0, 1})
        -> {'frames': Rigid [N] angstrom, 'single': [N, c]}.
  """

  def __init__(self, config: DenoiserConfig, global_config: GlobalConfig,
               name: str = 'frame_denoiser'):
    super().__init__(name=name)
    self.c, self.gc = config, global_config

  def __call__(self, noisy_frames: Rigid, t, single: jnp.ndarray, pair: jnp.ndarray,
               mask: jnp.ndarray, self_cond: Optional[Rigid] = None,
               self_cond_valid=0.) -> dict:
    c = self.c
    if single.ndim != 2 or pair.ndim != 3 or mask.ndim != 1:
      raise ValueError('FrameDenoiser expects single [N, c_s], pair [N, N, c_z], mask [N]; got '
                       f'{single.shape}, {pair.shape}, {mask.shape}')
    n = single.shape[0]
    if pair.shape[:2] != (n, n) or mask.shape[0] != n or noisy_frames.shape != (n,):
      raise ValueError(f'FrameDenoiser: residue axes disagree: single {single.shape}, pair '
                       f'{pair.shape}, mask {mask.shape}, frames {noisy_frames.shape}')
    mask = mask.astype(jnp.float32)
    temb = timestep_embedding(t, c.num_time_channel)  # [c_t]

    act = Linear(c.num_channel, name='single_projection')(
        LayerNorm(name='single_layer_norm')(single.astype(jnp.float32)))  # [N, c]
    act = act + Linear(c.num_channel, name='time_single_projection')(temb)  # [N, c] + [c]
    pair_act = Linear(c.num_pair_channel, name='pair_projection')(
        LayerNorm(name='pair_layer_norm')(pair.astype(jnp.float32)))  # [N, N, c_z']
    pair_act = pair_act + Linear(c.num_pair_channel, name='time_pair_projection')(temb)
    if self_cond is not None:
      dgram = _distogram_one_hot(jax.lax.stop_gradient(self_cond.trans), c)  # [N, N, b]
      dgram = dgram * jnp.asarray(self_cond_valid, jnp.float32)
      pair_act = pair_act + Linear(c.num_pair_channel, name='self_condition_projection')(dgram)
    pair_act = LayerNorm(name='pair_act_layer_norm')(pair_act)
    act = LayerNorm(name='act_layer_norm')(act)

    frames = noisy_frames.scale_translation(c.coordinate_scale)  # [N] nm
    for i in range(c.num_block):
      act, frames = DenoiserBlock(c, self.gc, name=f'block_{i}')(act, pair_act, mask, frames)
    return {'frames': frames.scale_translation(1. / c.coordinate_scale), 'single': act}


def make_denoise_fn(apply_fn, params) -> callable:
  """Adapt `hk.transform(lambda *a: FrameDenoiser(...)(*a)).apply` to the sampler's contract.

  Reads batch['single'], batch['pair'], batch['seq_mask'].
  """
  def denoise_fn(noisy_frames: Rigid, t, batch: Mapping, self_cond: Rigid, self_cond_valid):
    out = apply_fn(params, None, noisy_frames, t, batch['single'], batch['pair'],
                   batch['seq_mask'], self_cond, self_cond_valid)
    return out['frames']
  return denoise_fn
