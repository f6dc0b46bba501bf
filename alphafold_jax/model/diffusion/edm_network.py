"""A small atom transformer F for EDM backbone-coordinate diffusion (the raw network inside
`edm.precondition`; in the spirit of AF3's diffusion module, Suppl. Alg. 20, much reduced).

Tokens are backbone atoms (M = 3 N: N, CA, C per residue). Each token embeds its scaled
noisy position c_in x, its atom type, its residue's trunk single representation and the
noise level c_noise (Fourier features); attention layers use a per-head bias from the
residue pair representation (shared by the 3 x 3 atom pairs of two residues). Like AF3 the
network is NOT equivariant; the sampler's random rigid augmentation handles symmetry.

Units: the network sees c_in x (dimensionless, ~unit variance) and outputs F (dimensionless);
`edm.precondition` turns that into angstrom.
Shapes: N residues, M = 3 N atoms, c = num_channel, h = heads.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.model.attention import Attention, AttentionConfig, mask_to_bias
from alphafold_jax.nn import LayerNorm, Linear, final_init


@dataclasses.dataclass(frozen=True)
class EDMNetworkConfig:
  num_layer: int = 2
  num_channel: int = 64
  num_head: int = 4
  num_fourier: int = 32

  def __post_init__(self):
    for f in dataclasses.fields(self):
      if getattr(self, f.name) <= 0:
        raise ValueError(f'EDMNetworkConfig.{f.name} must be > 0, got {getattr(self, f.name)}')


class EDMBackboneNetwork(hk.Module):
  """F(x_in [M, 3], c_noise scalar, single [N, c_s], pair [N, N, c_z], seq_mask [N]) -> [M, 3]."""

  def __init__(self, config: EDMNetworkConfig, global_config: GlobalConfig,
               name: str = 'edm_backbone_network'):
    super().__init__(name=name)
    self.c, self.gc = config, global_config

  def __call__(self, x_in, c_noise, single, pair, seq_mask):
    c = self.c
    n = single.shape[0]
    if x_in.shape != (3 * n, 3) or pair.shape[:2] != (n, n) or seq_mask.shape != (n,):
      raise ValueError(f'EDMBackboneNetwork: shapes disagree: x_in {x_in.shape} (need [3N, 3]), '
                       f'single {single.shape}, pair {pair.shape}, seq_mask {seq_mask.shape}')
    mask = jnp.repeat(seq_mask.astype(jnp.float32), 3)  # [M]
    # Fixed random Fourier features of c_noise (AF3 Alg. 22), frequencies from a fixed seed.
    rng = np.random.RandomState(0)
    w = jnp.asarray(rng.randn(c.num_fourier), jnp.float32)
    b = jnp.asarray(rng.rand(c.num_fourier), jnp.float32)
    fourier = jnp.cos(2. * np.pi * (c_noise * w + b))  # [f]

    res = Linear(c.num_channel, name='single_projection')(
        LayerNorm(name='single_layer_norm')(single))  # [N, c]
    atom_type = jnp.tile(jnp.eye(3, dtype=jnp.float32), (n, 1))  # [M, 3]
    act = (jnp.repeat(res, 3, axis=0)  # [M, c]
           + Linear(c.num_channel, name='position_projection')(x_in)
           + Linear(c.num_channel, name='atom_type_embedding')(atom_type)
           + Linear(c.num_channel, name='noise_projection')(fourier))  # [M, c]
    bias = Linear(c.num_head, name='pair_bias')(LayerNorm(name='pair_layer_norm')(pair))
    bias = jnp.repeat(jnp.repeat(bias, 3, axis=0), 3, axis=1)  # [M, M, h]
    bias = jnp.transpose(bias, (2, 0, 1))  # [h, M, M]
    mask_bias = mask_to_bias(mask, act.dtype)[None, None, None, :]  # [1, 1, 1, M]
    attn_config = AttentionConfig(num_head=c.num_head)
    for i in range(c.num_layer):
      x = LayerNorm(name=f'attention_layer_norm_{i}')(act)[None]  # [1, M, c]
      act = act + Attention(attn_config, self.gc, c.num_channel, name=f'attention_{i}')(
          x, x, mask_bias, bias)[0]
      x = LayerNorm(name=f'transition_layer_norm_{i}')(act)
      x = jax.nn.relu(Linear(2 * c.num_channel, initializer='relu', name=f'transition1_{i}')(x))
      act = act + Linear(c.num_channel, initializer=final_init(self.gc),
                         name=f'transition2_{i}')(x)
    out = Linear(3, initializer=final_init(self.gc),
                 name='output_projection')(LayerNorm(name='output_layer_norm')(act))
    return out * mask[:, None]  # [M, 3]


def make_network_fn(apply_fn, params) -> callable:
  """Adapt `hk.transform(lambda x, cn, s, z, m: EDMBackboneNetwork(...)(x, cn, s, z, m)).apply`
  to edm.precondition's F(x_in, c_noise, batch) (reads 'single', 'pair', 'seq_mask')."""
  def network_fn(x_in, c_noise, batch: Mapping):
    return apply_fn(params, None, x_in, c_noise, batch['single'], batch['pair'],
                    batch['seq_mask'])
  return network_fn
