"""Distogram head (Jumper et al. 2021, Suppl. Sec. 1.9.8).

Pair representation -> symmetric logits over 64 distance bins between CB atoms (CA for
glycine). Bin edges: linspace(first_break, last_break, num_bins - 1), angstrom.

Shapes: N = residues, c_z = pair channels, B = num_bins.
"""

from __future__ import annotations

import dataclasses

import haiku as hk
import jax.numpy as jnp

from alphafold_jax.common.confidence import distogram_bin_edges
from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.nn import Linear, final_init
from alphafold_jax.ops import inplace, memory_policy


@dataclasses.dataclass(frozen=True)
class DistogramHeadConfig:
  """AF2 `heads.distogram` (model_1_ptm)."""
  first_break: float = 2.3125
  last_break: float = 21.6875
  num_bins: int = 64

  def __post_init__(self):
    if self.num_bins < 2 or not self.first_break < self.last_break:
      raise ValueError(f'DistogramHeadConfig: need num_bins >= 2 and first_break < last_break, '
                       f'got {self}')


class DistogramHead(hk.Module):
  """pair [N, N, c_z] -> {'logits': [N, N, B] (symmetric), 'bin_edges': [B - 1]}."""

  def __init__(self, config: DistogramHeadConfig, global_config: GlobalConfig,
               name: str = 'distogram_head'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config

  def __call__(self, pair: jnp.ndarray, is_training: bool = False) -> dict:
    """Under the memory policy's in-place pair updates (inference) the logits are built a block
    of rows at a time (ops/inplace.py), with no whole [N, N, B] half-logits or transpose."""
    if pair.ndim != 3 or pair.shape[0] != pair.shape[1]:
      raise ValueError(f'DistogramHead expects pair [N, N, c_z], got {pair.shape}')
    half = Linear(self.c.num_bins, initializer=final_init(self.gc), name='half_logits')
    if memory_policy.inplace_pair(self.gc, is_training):
      def logits_of_rows(rows, start):  # rows [n, N, c_z] -> logits [n, N, B]
        cols = inplace.take_rows(pair, start, rows.shape[0], axis=1)  # [n, N, c_z]: z_ji
        return half(rows) + half(cols)
      rows = memory_policy.pair_update_rows(self.gc, 4 * pair.shape[1] * self.c.num_bins)
      logits = inplace.build_from_rows(pair, logits_of_rows, rows)  # [N, N, B]
    else:
      half_logits = half(pair)  # [N, N, B]
      logits = half_logits + jnp.swapaxes(half_logits, 0, 1)  # [N, N, B], symmetric in (i, j)
    return {'logits': logits, 'bin_edges': distogram_bin_edges(
        self.c.first_break, self.c.last_break, self.c.num_bins)}
