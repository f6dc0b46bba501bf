"""Single-sequence Pairformer trunk + SE(3) frame denoiser: the `nano_diffusion` model.

Model (everything per example, no batch axis; N = residues):
  aatype [N], residue_index [N], seq_mask [N]
    -> input embedding: single = Linear(one_hot(aatype)) [N, c_s];
       pair = left_single_i + right_single_j + relpos(i - j) [N, N, c_z] (Suppl. Alg. 3 + 4
       without the MSA; `model.embedders.embed_relative_position`)
    -> Pairformer trunk (AF3 Suppl. Alg. 17; `model.pairformer.pairformer_stack`)
    -> (single, pair) condition the IPA frame denoiser (`model.diffusion.denoiser`, FrameDiff's
       score network) of the SE(3) diffusion (IGSO3 x VP-SDE, `model.diffusion.se3`);
       an optional distogram head on the pair (AF2 Suppl. 1.9.8 / AF3 trunk auxiliary loss).
Prediction: the reverse sampler (`model.diffusion.sampler.sample`, one lax.scan of
`sampler.num_steps` steps) from the prior; CA = the sampled frames' origins. Deterministic for
a key. The training objective is wired in training/diffusion_presets.py from the pure losses
of losses/diffusion.py.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Mapping

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model import triangle
from alphafold_jax.model.diffusion import sampler as sampler_lib
from alphafold_jax.model.diffusion.config import (DenoiserConfig, DiffusionLossConfig,
                                                  SamplerConfig, SE3DiffusionConfig)
from alphafold_jax.model.diffusion.denoiser import FrameDenoiser, make_denoise_fn
from alphafold_jax.model.embedders import InputEmbedderConfig, embed_relative_position
from alphafold_jax.model.heads.distogram import DistogramHead, DistogramHeadConfig
from alphafold_jax.model.msa import row_attention_config
from alphafold_jax.model.pairformer import PairformerBlockConfig, pairformer_stack
from alphafold_jax.model.transition import TransitionConfig
from alphafold_jax.nn import Linear
from alphafold_jax.ops.global_config import GlobalConfig

_field = dataclasses.field
_NUM_AATYPE = 21  # 20 amino acids + X


def small_pairformer_block(num_pair_head: int = 4, num_single_head: int = 4,
                           num_intermediate_channel: int = 32, transition_factor: int = 2,
                           dropout_rate: float = 0.0) -> PairformerBlockConfig:
  """A Pairformer block config at small widths (dropout off by default: we overfit)."""
  return PairformerBlockConfig(
      triangle_multiplication_outgoing=triangle.outgoing_config(
          num_intermediate_channel=num_intermediate_channel, dropout_rate=dropout_rate),
      triangle_multiplication_incoming=triangle.incoming_config(
          num_intermediate_channel=num_intermediate_channel, dropout_rate=dropout_rate),
      triangle_attention_starting_node=triangle.starting_node_config(
          num_head=num_pair_head, dropout_rate=dropout_rate),
      triangle_attention_ending_node=triangle.ending_node_config(
          num_head=num_pair_head, dropout_rate=dropout_rate),
      pair_transition=TransitionConfig(num_intermediate_factor=transition_factor, swiglu=True),
      single_attention=row_attention_config(num_head=num_single_head, dropout_rate=0.0),
      single_transition=TransitionConfig(num_intermediate_factor=transition_factor, swiglu=True))


@dataclasses.dataclass(frozen=True)
class DiffusionModelConfig:
  """Trunk widths, denoiser, noise processes + sampler, and loss settings of the preset."""
  single_channel: int = 64  # c_s
  pair_channel: int = 32  # c_z
  max_relative_feature: int = 32
  num_pairformer_block: int = 2
  pairformer: PairformerBlockConfig = _field(default_factory=small_pairformer_block)
  denoiser: DenoiserConfig = _field(default_factory=lambda: DenoiserConfig(
      num_block=3, num_channel=64, num_pair_channel=32, num_time_channel=32, num_head=4,
      num_scalar_qk=8, num_scalar_v=8, num_point_qk=4, num_point_v=4))
  diffusion: SE3DiffusionConfig = _field(default_factory=lambda: SE3DiffusionConfig(
      sampler=SamplerConfig(num_steps=20, noise_scale=0.5)))
  losses: DiffusionLossConfig = _field(default_factory=DiffusionLossConfig)
  distogram: DistogramHeadConfig = _field(default_factory=DistogramHeadConfig)
  distogram_weight: float = 0.3  # 0: no distogram head (nor its auxiliary loss)
  num_noise_samples: int = 4  # denoiser passes (noise levels) per trunk pass
  min_t: float = 0.01  # training t ~ U[min_t, 1]
  self_condition_rate: float = 0.5  # only used when diffusion.sampler.self_condition
  global_config: GlobalConfig = _field(
      default_factory=lambda: GlobalConfig(subbatch_size=None, zero_init=True))

  def __post_init__(self):
    for name in ('single_channel', 'pair_channel', 'num_pairformer_block', 'num_noise_samples'):
      if getattr(self, name) < 1:
        raise ValueError(f'DiffusionModelConfig.{name} must be >= 1, got {getattr(self, name)}')
    if not 0. < self.min_t < 1.:
      raise ValueError(f'DiffusionModelConfig.min_t must be in (0, 1), got {self.min_t}')
    if not 0. <= self.self_condition_rate <= 1.:
      raise ValueError('DiffusionModelConfig.self_condition_rate must be in [0, 1]')


class DiffusionTrunk(hk.Module):
  """Single-sequence input embedding (Jumper et al. 2021 Suppl. Alg. 3 without the MSA, relpos
  Alg. 4) + Pairformer stack (Abramson et al. 2024 Suppl. Alg. 17) + distogram logits
  (Suppl. 1.9.8). Returns {'single' [N, c_s], 'pair' [N, N, c_z], 'distogram' {'logits' [N, N, B], 'bin_edges'}}."""

  def __init__(self, config: DiffusionModelConfig, name: str = 'diffusion_trunk'):
    super().__init__(name=name)
    self.c = config

  def __call__(self, example: Mapping[str, jnp.ndarray], is_training: bool
               ) -> Dict[str, jnp.ndarray]:
    c = self.c
    aatype = example['aatype']  # [N]
    seq_mask = example['seq_mask'].astype(jnp.float32)  # [N]
    target_feat = jax.nn.one_hot(jnp.clip(aatype, 0, _NUM_AATYPE - 1), _NUM_AATYPE)  # [N, 21]
    single = Linear(c.single_channel, name='preprocess_1d')(target_feat)  # [N, c_s]
    left = Linear(c.pair_channel, name='left_single')(target_feat)  # [N, c_z]
    right = Linear(c.pair_channel, name='right_single')(target_feat)  # [N, c_z]
    pair = left[:, None] + right[None, :]  # [N, N, c_z]
    relpos = InputEmbedderConfig(pair_channel=c.pair_channel,
                                 max_relative_feature=c.max_relative_feature)
    pair = pair + embed_relative_position(example['residue_index'], relpos)  # [N, N, c_z]
    single, pair = pairformer_stack(single, pair, seq_mask, config=c.pairformer,
                                    global_config=c.global_config,
                                    num_block=c.num_pairformer_block, is_training=is_training)
    out = {'single': single, 'pair': pair}
    if c.distogram_weight:
      out['distogram'] = DistogramHead(c.distogram, c.global_config)(  # {logits, bin_edges}
          pair, is_training)
    return out


def make_model(config: DiffusionModelConfig) -> hk.MultiTransformed:
  """hk.multi_transform with apply_fns (trunk, denoiser), sharing one params dict.

  trunk(params, rng, example, is_training) -> {'single', 'pair'[, 'distogram']}
  denoiser(params, rng, noisy_frames, t, single, pair, mask, self_cond, self_cond_valid)
      -> {'frames': Rigid [N], 'single'}   (FrameDenoiser's call signature)
  """

  def build():
    trunk = DiffusionTrunk(config)
    denoiser = FrameDenoiser(config.denoiser, config.global_config)

    def init(example):
      out = trunk(example, True)
      frames = Rigid.identity(example['seq_mask'].shape)
      return denoiser(frames, 0.5, out['single'], out['pair'], example['seq_mask'], frames, 0.)

    return init, (trunk, denoiser)

  return hk.multi_transform(build)


def predict(model: hk.MultiTransformed, config: DiffusionModelConfig, params,
            example: Mapping[str, jnp.ndarray], rng: jax.Array) -> dict:
  """Samples structures with the reverse sampler: the sampler's output dict
  ({'frames': Rigid [S, N], 'backbone': [S, N, 3, 3]}), S = sampler.num_samples."""
  trunk_apply, denoise_apply = model.apply
  key_trunk, key_sample = jax.random.split(rng)
  trunk = trunk_apply(params, key_trunk, example, False)
  batch = {'seq_mask': example['seq_mask'].astype(jnp.float32), 'aatype': example['aatype'],
           'single': trunk['single'], 'pair': trunk['pair']}
  return sampler_lib.sample(make_denoise_fn(denoise_apply, params), batch, key_sample,
                            config.diffusion)


def predict_ca(model: hk.MultiTransformed, config: DiffusionModelConfig, params,
               example: Mapping[str, jnp.ndarray], rng: jax.Array) -> jnp.ndarray:
  """CA positions [N, 3] (angstrom) of the first sample; padded residues at 0."""
  return predict(model, config, params, example, rng)['backbone'][0, :, 1]
