"""Experimentally-resolved head (Jumper et al. 2021, Suppl. Sec. 1.9.10).

Single representation (the trunk's, not the structure module's) -> one logit per atom37
slot; sigmoid(logit) is the probability that the atom is resolved in the experiment.

Shapes: N = residues, c_s = single channels.
"""

from __future__ import annotations

import dataclasses

import haiku as hk
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.nn import Linear, final_init

_ATOM37 = 37


@dataclasses.dataclass(frozen=True)
class ExperimentallyResolvedHeadConfig:
  """AF2 `heads.experimentally_resolved`: no architecture settings (built when its loss weight
  is non-zero; the resolution filter is a loss setting)."""


class ExperimentallyResolvedHead(hk.Module):
  """single [N, c_s] -> {'logits': [N, 37]}."""

  def __init__(self, config: ExperimentallyResolvedHeadConfig, global_config: GlobalConfig,
               name: str = 'experimentally_resolved_head'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config

  def __call__(self, single: jnp.ndarray) -> dict:
    if single.ndim != 2:
      raise ValueError(f'ExperimentallyResolvedHead expects single [N, c_s], got {single.shape}')
    init = final_init(self.gc)
    return {'logits': Linear(_ATOM37, initializer=init, name='logits')(single)}
