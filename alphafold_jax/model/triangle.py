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

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.model.attention import Attention, AttentionBlockConfig, mask_to_bias
from alphafold_jax.nn import LayerNorm, Linear, final_init, linear_params
from alphafold_jax.ops import inplace, memory_policy

OUTGOING_EQUATION = 'ikc,jkc->ijc'  # z_ij = sum_k a_ik * b_jk  (Alg. 11 line 4)
INCOMING_EQUATION = 'kjc,kic->ijc'  # z_ij = sum_k a_ki * b_kj  (Alg. 12 line 4; left/right swapped)


class TriangleConfigError(ValueError):
  """Raised for an unknown contraction (triangle attention orientations: AttentionBlockConfig)."""


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

  def __call__(self, pair: jnp.ndarray, mask: jnp.ndarray, is_training: bool = False, *,
               add_to_input: bool = False) -> jnp.ndarray:
    """pair [N, N, c], mask [N, N] -> update [N, N, c]; with add_to_input (inference, set by
    the memory policy) pair + update, computed in place block by block (`_residual_inplace`)."""
    del is_training
    if add_to_input:
      return self._residual_inplace(pair, mask)
    c, gc = self.config, self.global_config
    h = c.num_intermediate_channel
    c_z = pair.shape[-1]
    dtype = pair.dtype
    mask = mask.astype(dtype)[None]  # [1, N, N]

    # Layout (speed only): the projections are written channel-first, [h, N, N], which is the
    # layout of the batched matmul below; with the paper's [N, N, h] layout XLA transposes both
    # operands and the result around the matmul (measured ~2x slower on CPU, same values).
    def projection(name, num_output, initializer, bias_init=0.0):
      w, b = linear_params(name, c_z, num_output, dtype, initializer, bias_init)
      return jnp.einsum('ika,ah->hik', act, w) + b[:, None, None]  # [num_output, N, N]

    if c.fuse_projection_weights:
      act = LayerNorm(name='left_norm_input')(pair)
      proj = mask * projection('projection', 2 * h, 'linear')  # [2h, N, N]
      proj = proj * jax.nn.sigmoid(projection('gate', 2 * h, final_init(gc), 1.0))
      left, right = proj[:h], proj[h:]  # [h, N, N] each
      center_norm_name = 'center_norm'
    else:
      act = LayerNorm(name='layer_norm_input')(pair)
      left = mask * projection('left_projection', h, 'linear')  # [h, N, N]
      right = mask * projection('right_projection', h, 'linear')  # [h, N, N]
      left = left * jax.nn.sigmoid(projection('left_gate', h, final_init(gc), 1.0))
      right = right * jax.nn.sigmoid(projection('right_gate', h, final_init(gc), 1.0))
      center_norm_name = 'center_layer_norm'
    # outgoing (Alg. 11), z_ij = sum_k a_ik b_jk: [h, N(i), N(k)] x [h, N(j), N(k)] -> [h, N, N]
    # incoming (Alg. 12), z_ij = sum_k a_ki b_kj: [h, N(k), N(j)] x [h, N(k), N(i)] -> [h, N, N]
    channel_first = {OUTGOING_EQUATION: 'cik,cjk->cij', INCOMING_EQUATION: 'ckj,cki->cij'}
    update = jnp.einsum(channel_first[c.equation], left, right)  # [h, N, N]
    update = jnp.transpose(update, (1, 2, 0))  # [N, N, h]
    update = LayerNorm(name=center_norm_name)(update)
    update = Linear(c_z, initializer=final_init(gc), name='output_projection')(update)  # [N, N, c]
    gate = Linear(c_z, initializer=final_init(gc), bias_init=1.0,
                  name='gating_linear')(act)  # [N, N, c]
    return update * jax.nn.sigmoid(gate)

  @hk.transparent
  def _residual_inplace(self, pair: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """pair + self(pair, mask), computed in blocks of rows written back in place (inference).

    The incoming update is the outgoing one on the transposed pair (z^T_ji = sum_k a'_jk b'_ik
    with a'_jk = a_kj), so both run over rows of a frame: the pair (outgoing) or its transpose
    (incoming, blocks of columns). The right projection b' is built once [h, N, N]; each block
    of rows makes its left projection, the contraction, the centre norm and the gate.
    """
    c, gc = self.config, self.global_config
    h, c_z = c.num_intermediate_channel, pair.shape[-1]
    dtype = memory_policy.pair_compute_dtype(gc, pair.dtype)
    axis = 0 if c.equation == OUTGOING_EQUATION else 1
    mask = (mask if axis == 0 else jnp.swapaxes(mask, 0, 1)).astype(dtype)  # frame [N, N]
    if c.fuse_projection_weights:
      norm_in = LayerNorm(name='left_norm_input')
      w_p, b_p = linear_params('projection', c_z, 2 * h, dtype, 'linear')
      w_g, b_g = linear_params('gate', c_z, 2 * h, dtype, final_init(gc), 1.0)
      sides = {'left': (w_p[:, :h], b_p[:h], w_g[:, :h], b_g[:h]),
               'right': (w_p[:, h:], b_p[h:], w_g[:, h:], b_g[h:])}
      center = LayerNorm(name='center_norm')
    else:
      norm_in = LayerNorm(name='layer_norm_input')
      sides = {side: (*linear_params(f'{side}_projection', c_z, h, dtype, 'linear'),
                      *linear_params(f'{side}_gate', c_z, h, dtype, final_init(gc), 1.0))
               for side in ('left', 'right')}
      center = LayerNorm(name='center_layer_norm')
    output_projection = Linear(c_z, initializer=final_init(gc), name='output_projection')
    gating_linear = Linear(c_z, initializer=final_init(gc), bias_init=1.0, name='gating_linear')

    def projected(act, start, side):  # act [n, N, c] frame rows -> [h, n, N]
      w, b, wg, bg = sides[side]
      m = inplace.take_rows(mask, start, act.shape[0])[None]  # [1, n, N]
      proj = m * (jnp.einsum('ika,ah->hik', act, w) + b[:, None, None])
      return proj * jax.nn.sigmoid(jnp.einsum('ika,ah->hik', act, wg) + bg[:, None, None])

    rows = memory_policy.pair_update_rows(gc, pair.shape[1 - axis] * max(h, c_z) * 4 * 4)
    right = inplace.build_from_rows(
        pair, lambda x, start: projected(norm_in(x), start, 'right'), rows, axis=axis,
        out_axis=1, compute_dtype=dtype)  # [h, N(j), N(k)]

    def row_update(x, start):  # x [n, N, c] -> [n, N, c]
      act = norm_in(x)
      left = projected(act, start, 'left')  # [h, n(i), N(k)]
      update = jnp.einsum('cik,cjk->cij', left, right.astype(left.dtype))  # [h, n, N]
      update = output_projection(center(jnp.transpose(update, (1, 2, 0))))  # [n, N, c]
      return update * jax.nn.sigmoid(gating_linear(act))

    return inplace.update_rows_inplace(pair, row_update, rows, axis=axis, compute_dtype=dtype)


def starting_node_config(**overrides) -> AttentionBlockConfig:
  """model_1_ptm `triangle_attention_starting_node` (Alg. 13); key/value widths are totals
  over heads (None = c; the template stack sets 64)."""
  return AttentionBlockConfig(**{**dict(num_head=4, dropout_rate=0.25, orientation='per_row'),
                                 **overrides})


def ending_node_config(**overrides) -> AttentionBlockConfig:
  """model_1_ptm `triangle_attention_ending_node` (Alg. 14): the same, 'per_column'."""
  return AttentionBlockConfig(**{**dict(num_head=4, dropout_rate=0.25, orientation='per_column'),
                                 **overrides})


class TriangleAttention(hk.Module):
  """Triangle self-attention around the starting node (Alg. 13, 'per_row') or ending node (Alg. 14).

  Starting node: edge ij attends over edges ik with bias b_jk from the pair itself.
  Ending node: the same on the transposed pair (edge ij attends over kj with bias b_ki).
  """

  def __init__(self, config: AttentionBlockConfig, global_config: GlobalConfig,
               name: str = 'triangle_attention'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, pair: jnp.ndarray, mask: jnp.ndarray, is_training: bool = False, *,
               add_to_input: bool = False) -> jnp.ndarray:
    """pair [N, N, c], mask [N, N] -> update [N, N, c] (add_to_input: pair + update in place)."""
    if add_to_input:
      return self._residual_inplace(pair, mask)
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
    update = Attention(c, self.global_config, pair.shape[-1])(
        act, act, bias, shared_bias,
        chunk_size=memory_policy.chunk_policy(self.global_config, is_training))  # [N, N, c]
    if ending:
      update = jnp.swapaxes(update, 0, 1)
    return update

  @hk.transparent
  def _residual_inplace(self, pair: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """pair + self(pair, mask) in blocks of rows (starting node) or columns (ending node)
    written back in place (inference). The [H, N, N] bias is built first, block by block."""
    c, gc = self.config, self.global_config
    c_z = pair.shape[-1]
    dtype = memory_policy.pair_compute_dtype(gc, pair.dtype)
    axis = 1 if c.orientation == 'per_column' else 0
    mask = mask if axis == 0 else jnp.swapaxes(mask, 0, 1)  # frame [N, N]
    feat_2d_weights = hk.get_parameter(
        'feat_2d_weights', (c_z, c.num_head), dtype,
        hk.initializers.RandomNormal(stddev=1.0 / c_z**0.5))
    query_norm = LayerNorm(name='query_norm')
    attention = Attention(c, gc, c_z)
    rows = memory_policy.pair_update_rows(gc, pair.shape[1 - axis] * c_z * 4 * 4)
    shared_bias = inplace.build_from_rows(
        pair, lambda x, _: jnp.einsum('qkc,ch->hqk', query_norm(x), feat_2d_weights), rows,
        axis=axis, out_axis=1, compute_dtype=dtype)  # [H, N, N]

    def row_update(x, start):  # x [n, N, c] -> [n, N, c]
      bias = mask_to_bias(inplace.take_rows(mask, start, x.shape[0]), x.dtype)[:, None, None, :]
      act = query_norm(x)
      return attention(act, act, bias, shared_bias,
                       chunk_size=memory_policy.chunk_policy(gc, is_training=False))

    return inplace.update_rows_inplace(pair, row_update, rows, axis=axis, compute_dtype=dtype)
