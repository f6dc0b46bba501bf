"""Triangle updates of the pair representation.

Jumper et al. 2021, Suppl. Alg. 11 "TriangleMultiplicationOutgoing", Alg. 12
"TriangleMultiplicationIncoming", Alg. 13 "TriangleAttentionStartingNode", Alg. 14
"TriangleAttentionEndingNode".

Shapes: N = residues, c = pair channels (c_z), h = intermediate channels, H = heads.
pair [N, N, c], mask [N, N].

Parameter layouts (AF2 v2.3): official monomer files use the UNFUSED multiplication
(`layer_norm_input`, `left_projection`, `right_projection`, `left_gate`, `right_gate`,
`center_layer_norm`, `output_projection`, `gating_linear`); multimer v3 files the FUSED one
(`left_norm_input`, `projection` [c, 2h], `gate` [c, 2h], `center_norm`, ...), chosen with
`fuse_projection_weights`. Both compute the same function.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.config.global_config import GlobalConfig
from alphafold_jax.model.attention import Attention, AttentionConfig, mask_to_bias
from alphafold_jax.model.transition import final_init
from alphafold_jax.nn import LayerNorm, Linear
from alphafold_jax.ops import chunking

OUTGOING_EQUATION = 'ikc,jkc->ijc'  # z_ij = sum_k a_ik * b_jk  (Alg. 11 line 4)
INCOMING_EQUATION = 'kjc,kic->ijc'  # z_ij = sum_k a_ki * b_kj  (Alg. 12 line 4; left/right swapped)


class TriangleConfigError(ValueError):
  """Raised for an unknown contraction or orientation."""


@dataclasses.dataclass(frozen=True)
class TriangleMultiplicationConfig:
  """Defaults: model_1_ptm `triangle_multiplication_outgoing` (template stack: h = 64)."""
  equation: str = OUTGOING_EQUATION
  num_intermediate_channel: int = 128
  dropout_rate: float = 0.25
  orientation: str = 'per_row'
  shared_dropout: bool = True
  fuse_projection_weights: bool = False

  def __post_init__(self):
    if self.equation not in (OUTGOING_EQUATION, INCOMING_EQUATION):
      raise TriangleConfigError(
          f'triangle multiplication equation must be {OUTGOING_EQUATION!r} (outgoing) or '
          f'{INCOMING_EQUATION!r} (incoming), got {self.equation!r}')


def outgoing_config(**overrides) -> TriangleMultiplicationConfig:
  return TriangleMultiplicationConfig(equation=OUTGOING_EQUATION, **overrides)


def incoming_config(**overrides) -> TriangleMultiplicationConfig:
  return TriangleMultiplicationConfig(equation=INCOMING_EQUATION, **overrides)


class TriangleMultiplication(hk.Module):
  """Triangle multiplicative update, outgoing or incoming by `config.equation` (Suppl. Alg. 11/12).

  DISCREPANCY: as in DeepMind's code the mask multiplies the projection before the gate, and
  in the incoming update the roles of a and b are swapped relative to the paper's notation
  (the left projection plays b); the result is the same function.
  """

  def __init__(self, config: TriangleMultiplicationConfig, global_config: GlobalConfig,
               name: str = 'triangle_multiplication'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, pair: jnp.ndarray, mask: jnp.ndarray, is_training: bool = False) -> jnp.ndarray:
    """pair [N, N, c], mask [N, N] -> update [N, N, c]."""
    del is_training
    c, gc = self.config, self.global_config
    h = c.num_intermediate_channel
    mask = mask[..., None].astype(pair.dtype)  # [N, N, 1]
    if c.fuse_projection_weights:
      act = LayerNorm(name='left_norm_input')(pair)
      proj = mask * Linear(2 * h, name='projection')(act)  # [N, N, 2h]
      proj = proj * jax.nn.sigmoid(
          Linear(2 * h, initializer=final_init(gc), bias_init=1.0, name='gate')(act))
      left, right = proj[..., :h], proj[..., h:]  # [N, N, h] each
      center_norm_name = 'center_norm'
    else:
      act = LayerNorm(name='layer_norm_input')(pair)
      left = mask * Linear(h, name='left_projection')(act)  # [N, N, h]
      right = mask * Linear(h, name='right_projection')(act)  # [N, N, h]
      left = left * jax.nn.sigmoid(
          Linear(h, initializer=final_init(gc), bias_init=1.0, name='left_gate')(act))
      right = right * jax.nn.sigmoid(
          Linear(h, initializer=final_init(gc), bias_init=1.0, name='right_gate')(act))
      center_norm_name = 'center_layer_norm'
    # outgoing: [N(i), N(k), h] x [N(j), N(k), h] -> [N(i), N(j), h]
    # incoming: [N(k), N(j), h] x [N(k), N(i), h] -> [N(i), N(j), h]
    update = jnp.einsum(c.equation, left, right)  # [N, N, h]
    update = LayerNorm(name=center_norm_name)(update)
    update = Linear(pair.shape[-1], initializer=final_init(gc), name='output_projection')(update)
    gate = Linear(pair.shape[-1], initializer=final_init(gc), bias_init=1.0,
                  name='gating_linear')(act)  # [N, N, c]
    return update * jax.nn.sigmoid(gate)


@dataclasses.dataclass(frozen=True)
class TriangleAttentionConfig:
  """Defaults: model_1_ptm `triangle_attention_starting_node` (ending node: 'per_column').

  key_dim/value_dim are totals over heads (None = c; the template stack sets 64).
  """
  num_head: int = 4
  key_dim: Optional[int] = None
  value_dim: Optional[int] = None
  gating: bool = True
  dropout_rate: float = 0.25
  orientation: str = 'per_row'
  shared_dropout: bool = True

  def __post_init__(self):
    if self.orientation not in ('per_row', 'per_column'):
      raise TriangleConfigError(
          f"triangle attention orientation must be 'per_row' (starting node) or 'per_column' "
          f'(ending node), got {self.orientation!r}')

  def attention(self) -> AttentionConfig:
    return AttentionConfig(num_head=self.num_head, key_dim=self.key_dim,
                           value_dim=self.value_dim, gating=self.gating)


def starting_node_config(**overrides) -> TriangleAttentionConfig:
  return TriangleAttentionConfig(orientation='per_row', **overrides)


def ending_node_config(**overrides) -> TriangleAttentionConfig:
  return TriangleAttentionConfig(orientation='per_column', **overrides)


class TriangleAttention(hk.Module):
  """Triangle self-attention around the starting node (Alg. 13, 'per_row') or ending node (Alg. 14).

  Starting node: edge ij attends over edges ik with bias b_jk from the pair itself.
  Ending node: the same on the transposed pair (edge ij attends over kj with bias b_ki).
  """

  def __init__(self, config: TriangleAttentionConfig, global_config: GlobalConfig,
               name: str = 'triangle_attention'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, pair: jnp.ndarray, mask: jnp.ndarray, is_training: bool = False) -> jnp.ndarray:
    """pair [N, N, c], mask [N, N] -> update [N, N, c]."""
    c = self.config
    ending = c.orientation == 'per_column'
    if ending:
      pair = jnp.swapaxes(pair, 0, 1)  # [N(j), N(i), c]
      mask = jnp.swapaxes(mask, 0, 1)
    bias = mask_to_bias(mask, pair.dtype)[:, None, None, :]  # [N, 1, 1, N]
    feat_2d_weights = hk.get_parameter(
        'feat_2d_weights', (pair.shape[-1], c.num_head), pair.dtype,
        hk.initializers.RandomNormal(stddev=1.0 / pair.shape[-1]**0.5))
    act = LayerNorm(name='query_norm')(pair)
    shared_bias = jnp.einsum('qkc,ch->hqk', act, feat_2d_weights)  # [H, N, N]
    update = Attention(c.attention(), self.global_config, pair.shape[-1])(
        act, act, bias, shared_bias,
        chunk_size=chunking.chunk_size(self.global_config, is_training))  # [N, N, c]
    if ending:
      update = jnp.swapaxes(update, 0, 1)
    return update
