"""Predicted aligned error (PAE) head (Jumper et al. 2021, Suppl. Sec. 1.9.7).

Pair representation -> logits over 64 bins of the error of residue j's position when the
prediction is aligned on residue i's frame. Bin breaks: linspace(0, max_error_bin,
num_bins - 1) angstrom (0.5 A wide up to 31 A, last bin open); PAE and pTM from the logits:
`alphafold_jax.common.confidence`.

Shapes: N = residues, c_z = pair channels, B = num_bins.
"""

from __future__ import annotations

import dataclasses

import haiku as hk
import jax.numpy as jnp

from alphafold_jax.common.confidence import pae_breaks
from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.nn import Linear, final_init
from alphafold_jax.ops import inplace, memory_policy


@dataclasses.dataclass(frozen=True)
class PredictedAlignedErrorHeadConfig:
  """AF2 `heads.predicted_aligned_error` (model_*_ptm); num_channels is unused, as in AF2."""
  max_error_bin: float = 31.0
  num_bins: int = 64
  num_channels: int = 128

  def __post_init__(self):
    if self.num_bins < 3 or self.max_error_bin <= 0:
      raise ValueError('PredictedAlignedErrorHeadConfig: need num_bins >= 3 and '
                       f'max_error_bin > 0, got {self}')


class PredictedAlignedErrorHead(hk.Module):
  """pair [N, N, c_z] -> {'logits': [N, N, B], 'breaks': [B - 1]}.

  logits[i, j]: error of residue j when aligned on the frame of residue i.
  """

  def __init__(self, config: PredictedAlignedErrorHeadConfig, global_config: GlobalConfig,
               name: str = 'predicted_aligned_error_head'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config

  def __call__(self, pair: jnp.ndarray, is_training: bool = False) -> dict:
    """Under the memory policy's in-place pair updates (inference) the logits are built a block
    of rows at a time (ops/inplace.py)."""
    if pair.ndim != 3 or pair.shape[0] != pair.shape[1]:
      raise ValueError(f'PredictedAlignedErrorHead expects pair [N, N, c_z], got {pair.shape}')
    linear = Linear(self.c.num_bins, initializer=final_init(self.gc), name='logits')
    if memory_policy.inplace_pair(self.gc, is_training):
      rows = memory_policy.pair_update_rows(self.gc, 4 * pair.shape[1] * self.c.num_bins)
      logits = inplace.build_from_rows(pair, lambda x, _: linear(x), rows)  # [N, N, B]
    else:
      logits = linear(pair)  # [N, N, B]
    return {'logits': logits, 'breaks': pae_breaks(self.c.max_error_bin, self.c.num_bins)}
