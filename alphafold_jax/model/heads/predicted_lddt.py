"""pLDDT head (Jumper et al. 2021, Suppl. Sec. 1.9.6, Alg. 29 "predictPerResidueLDDT_Ca").

Structure-module single activations -> logits over 50 equal-width lDDT-Ca bins on [0, 1];
pLDDT = 100 * expected bin centre.

Shapes: N = residues, c = structure-module channels, B = num_bins.
"""

from __future__ import annotations

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.nn import LayerNorm, Linear, final_init


@dataclasses.dataclass(frozen=True)
class PredictedLDDTHeadConfig:
  """AF2 `heads.predicted_lddt` (model_1_ptm); the resolution filter is a loss setting."""
  num_bins: int = 50
  num_channels: int = 128

  def __post_init__(self):
    if self.num_bins < 1 or self.num_channels < 1:
      raise ValueError(f'PredictedLDDTHeadConfig: num_bins and num_channels must be >= 1, '
                       f'got {self}')


class PredictedLDDTHead(hk.Module):
  """structure-module act [N, c] -> {'logits': [N, B]}."""

  def __init__(self, config: PredictedLDDTHeadConfig, global_config: GlobalConfig,
               name: str = 'predicted_lddt_head'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config

  def __call__(self, structure_module_act: jnp.ndarray) -> dict:
    if structure_module_act.ndim != 2:
      raise ValueError('PredictedLDDTHead expects the structure-module act [N, c], got '
                       f'{structure_module_act.shape}')
    act = LayerNorm(name='input_layer_norm')(structure_module_act)
    act = jax.nn.relu(Linear(self.c.num_channels, initializer='relu', name='act_0')(act))
    act = jax.nn.relu(Linear(self.c.num_channels, initializer='relu', name='act_1')(act))
    init = final_init(self.gc)
    return {'logits': Linear(self.c.num_bins, initializer=init, name='logits')(act)}  # [N, B]
