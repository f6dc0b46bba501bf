"""A tiny real model for exercising the training stack: residue features -> CA coordinates.

Not AlphaFold: a few alphafold_jax.nn.Linear layers on one-hot residue type plus a
sinusoidal encoding of the residue index, predicting CA positions, with AF2-style
recycling (Suppl. Alg. 2 lines 1-7 in spirit): the prediction of cycle c is embedded
(pairwise-distance-free, just its coordinates) into cycle c+1, earlier cycles run under
stop_gradient inside `hk.fori_loop` with a TRACED number of cycles — the same contract
the full model meets. Loss: masked MSE of all pairwise CA distances (invariant to rigid
motions), so Kabsch CA-RMSD is the natural evaluation.

Shapes: N = residues, c = channels.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Mapping, Tuple

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax import nn

NUM_RESTYPES = 21  # 20 amino acids + UNK
CA = 1


@dataclasses.dataclass(frozen=True)
class TinyCAConfig:
  channels: int = 32
  num_frequencies: int = 8
  coordinate_scale: float = 10.  # network output * scale = angstrom


def positional_encoding(residue_index: jnp.ndarray, num_frequencies: int) -> jnp.ndarray:
  """[N] -> [N, 2F] sin/cos of residue_index at geometric frequencies."""
  freqs = 1. / (2. ** jnp.arange(num_frequencies, dtype=jnp.float32))  # [F]
  angles = residue_index.astype(jnp.float32)[:, None] * freqs[None, :]  # [N, F]
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)  # [N, 2F]


class TinyCAModel(hk.Module):
  """Per-example forward: features (aatype [N], residue_index [N]) -> CA [N, 3]."""

  def __init__(self, config: TinyCAConfig = TinyCAConfig(), name: str = 'tiny_ca'):
    super().__init__(name=name)
    self.c = config

  def __call__(self, example: Mapping[str, jnp.ndarray], num_recycle) -> jnp.ndarray:
    aatype = example['aatype']  # [N]
    feats = jnp.concatenate([
        jax.nn.one_hot(aatype, NUM_RESTYPES),  # [N, 21]
        positional_encoding(example['residue_index'], self.c.num_frequencies),  # [N, 2F]
    ], axis=-1)
    single = nn.Linear(self.c.channels, initializer='relu', name='input_projection')(feats)
    single = jax.nn.relu(single)  # [N, c]
    prev_embed = nn.Linear(self.c.channels, initializer='zeros', name='prev_pos_embedder')
    hidden = nn.Linear(self.c.channels, initializer='relu', name='hidden')
    out = nn.Linear(3, initializer='linear', name='ca_head')

    def iteration(prev_ca):  # [N, 3] -> [N, 3]
      h = single + prev_embed(prev_ca / self.c.coordinate_scale)  # [N, c]
      h = jax.nn.relu(hidden(h))  # [N, c]
      return out(h) * self.c.coordinate_scale  # [N, 3]

    prev = jnp.zeros(aatype.shape + (3,), jnp.float32)  # [N, 3]
    if not hk.running_init():
      # Recycling: num_recycle (traced) cycles without gradient, then the final one.
      prev = hk.fori_loop(0, num_recycle, lambda _, p: jax.lax.stop_gradient(iteration(p)), prev)
    return iteration(prev)


def make_forward(config: TinyCAConfig = TinyCAConfig()) -> hk.Transformed:
  """hk.transform of (example, num_recycle) -> CA [N, 3]; apply(params, rng, example, num_recycle)."""
  return hk.transform(lambda example, num_recycle: TinyCAModel(config)(example, num_recycle))


def distance_mse_loss(pred_ca: jnp.ndarray, example: Mapping[str, jnp.ndarray]
                      ) -> Tuple[jnp.ndarray, Dict[str, jnp.ndarray]]:
  """Masked MSE of pairwise CA distances (A^2). Mask = resolved CA * seq_mask."""
  true_ca = example['all_atom_positions'][:, CA]  # [N, 3]
  mask = example['all_atom_mask'][:, CA] * example['seq_mask']  # [N]
  pair_mask = mask[:, None] * mask[None, :]  # [N, N]

  def dist(x):  # [N, 3] -> [N, N]; eps keeps the gradient finite at 0
    return jnp.sqrt(1e-8 + jnp.sum(jnp.square(x[:, None] - x[None, :]), -1))

  err = jnp.square(dist(pred_ca) - dist(true_ca))  # [N, N]
  loss = jnp.sum(pair_mask * err) / (1e-6 + jnp.sum(pair_mask))
  return loss, {'distance_rmse': jnp.sqrt(loss)}
