"""Masked-MSA head (Jumper et al. 2021, Suppl. Sec. 1.9.9): BERT-style residue-type logits.

Shapes: S = MSA rows, N = residues, c_m = MSA channels, A = num_output (23 = 20 amino
acids + UNK + gap + mask token).
"""

from __future__ import annotations

import dataclasses

import haiku as hk
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.nn import Linear, final_init


@dataclasses.dataclass(frozen=True)
class MaskedMsaHeadConfig:
  """AF2 `heads.masked_msa` (model_1_ptm)."""
  num_output: int = 23

  def __post_init__(self):
    if self.num_output < 1:
      raise ValueError(f'MaskedMsaHeadConfig.num_output must be >= 1, got {self.num_output}')


class MaskedMsaHead(hk.Module):
  """msa [S, N, c_m] -> {'logits': [S, N, A]}."""

  def __init__(self, config: MaskedMsaHeadConfig, global_config: GlobalConfig,
               name: str = 'masked_msa_head'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config

  def __call__(self, msa: jnp.ndarray) -> dict:
    if msa.ndim != 3:
      raise ValueError(f'MaskedMsaHead expects msa [N_seq, N_res, c_m], got {msa.shape}')
    init = final_init(self.gc)
    return {'logits': Linear(self.c.num_output, initializer=init, name='logits')(msa)}
