"""Invariant Point Attention (Jumper et al. 2021, Suppl. Alg. 22).

Each residue i carries a frame T_i (a `Rigid`, translations in nanometres inside the
structure module) and a single representation s_i. Attention logits combine

  * scalar query/key products                     (w_C = sqrt(1 / (3 c)))
  * squared distances between query and key points placed in the global frame by
    T_i / T_j, weighted per head by softplus(gamma_h) (w_P = sqrt(2 / (9 * 3 * P_qk)))
  * a bias from the pair representation z_ij        (w_L = sqrt(1 / 3))

and the output concatenates attended scalar values, attended value points mapped back
into the query's local frame (x, y, z and their norm) and the attended pair features.
The result is invariant under any global rigid motion applied to all frames.

Shapes: N = residues, h = heads, c = scalar channels per head, p = points per head,
c_s = single channels, c_z = pair channels.

Parameter names follow AF2's `invariant_point_attention` module: q_scalar, kv_scalar,
q_point_local, kv_point_local, trainable_point_weights, attention_2d, output_projection.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.nn import Linear, final_init
from alphafold_jax.ops import inplace, memory_policy

# fp32 accumulation for the attention contractions on every backend (TF32 off).
_HIGHEST = jax.lax.Precision.HIGHEST


@dataclasses.dataclass(frozen=True)
class InvariantPointAttentionConfig:
  """IPA widths (AF2 model_1_ptm defaults; AF2 reads them from the structure-module config).

  num_channel: output channels c_s (the projection back to the single representation).
  """
  num_head: int = 12
  num_scalar_qk: int = 16
  num_scalar_v: int = 16
  num_point_qk: int = 4
  num_point_v: int = 8
  num_channel: int = 384

  def __post_init__(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      if not isinstance(value, int) or value <= 0:
        raise ValueError(f'InvariantPointAttentionConfig.{field.name} must be a positive int, '
                         f'got {value!r}')


def _split_points(flat: jnp.ndarray, num_head: int, num_point: int) -> jnp.ndarray:
  """Linear output [N, 3 * h * p] laid out (x-block, y-block, z-block) -> [N, h, p, 3].

  This is AF2's layout: the projection is split into three equal chunks for the
  x, y and z coordinates, each chunk reshaped to [h, p].
  """
  n = flat.shape[0]
  pts = flat.reshape(n, 3, num_head, num_point)  # [N, 3, h, p]
  return jnp.moveaxis(pts, 1, -1)  # [N, h, p, 3]


class InvariantPointAttention(hk.Module):
  """Invariant Point Attention (Suppl. Alg. 22).

  Call: (single [N, c_s], pair [N, N, c_z], mask [N], frames Rigid [N]) -> [N, num_channel].
  Padded residues (mask 0) are never attended to; their own outputs are unspecified.
  Under the memory policy's in-place pair updates (`memory_policy.inplace_pair`, inference)
  the queries run in blocks of rows (ops/inplace.py): the pair bias, logits, distances and the
  attended pair of one block at a time, never an [h, N, N] or [N, N, h, p] array whole.
  """

  def __init__(self, config: InvariantPointAttentionConfig, global_config: GlobalConfig,
               dist_epsilon: float = 1e-8, name: str = 'invariant_point_attention'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config
    self.dist_epsilon = dist_epsilon

  def __call__(self, single: jnp.ndarray, pair: jnp.ndarray, mask: jnp.ndarray,
               frames: Rigid, is_training: bool = False,
               pair_norm: Optional[Callable[[jnp.ndarray], jnp.ndarray]] = None) -> jnp.ndarray:
    """pair_norm: applied to the pair's rows before use (the structure module's pair LayerNorm,
    per block under the policy so no normalised copy of the whole pair is made)."""
    c = self.c
    if single.ndim != 2 or pair.ndim != 3 or mask.ndim != 1:
      raise ValueError(
          'InvariantPointAttention expects single [N, c_s], pair [N, N, c_z], mask [N]; got '
          f'{single.shape}, {pair.shape}, {mask.shape}')
    n = single.shape[0]
    if pair.shape[:2] != (n, n) or mask.shape[0] != n or frames.shape != (n,):
      raise ValueError(
          f'InvariantPointAttention: residue axes disagree: single {single.shape}, pair '
          f'{pair.shape}, mask {mask.shape}, frames {frames.shape}')
    h, c_qk, c_v, p_qk, p_v = (c.num_head, c.num_scalar_qk, c.num_scalar_v,
                               c.num_point_qk, c.num_point_v)

    # ---- scalar queries, keys, values (Alg. 22 line 1) ----
    q = Linear(h * c_qk, name='q_scalar')(single).reshape(n, h, c_qk)  # [N, h, c_qk]
    kv = Linear(h * (c_qk + c_v), name='kv_scalar')(single)
    kv = kv.reshape(n, h, c_qk + c_v)  # [N, h, c_qk + c_v]; keys first, then values
    k, v = kv[..., :c_qk], kv[..., c_qk:]  # [N, h, c_qk], [N, h, c_v]

    # ---- query/key/value points, local -> global (Alg. 22 lines 2-3, 7) ----
    frames_hp = frames.map(lambda x: x[:, None, None])  # [N, 1, 1] for [N, h, p, 3] points
    q_pts = _split_points(Linear(h * 3 * p_qk, name='q_point_local')(single), h, p_qk)
    q_pts = frames_hp.apply(q_pts)  # [N, h, p_qk, 3] global
    kv_pts = _split_points(
        Linear(h * 3 * (p_qk + p_v), name='kv_point_local')(single), h, p_qk + p_v)
    kv_pts = frames_hp.apply(kv_pts)  # [N, h, p_qk + p_v, 3] global
    k_pts, v_pts = kv_pts[:, :, :p_qk], kv_pts[:, :, p_qk:]  # [N, h, p_qk, 3], [N, h, p_v, 3]

    # ---- attention logits (Alg. 22 line 7) ----
    # Each of the three terms gets variance 1/3 (queries/keys assumed ~ N(0, 1)).
    scalar_weight = np.sqrt(1.0 / (3 * max(c_qk, 1)))
    # Paper: w_L * w_C / 2 with w_L = sqrt(1/3), w_C = sqrt(2 / (9 P_qk)); the same number
    # written as AF2 does, with w_L folded into each term.
    point_weight = np.sqrt(1.0 / (3 * max(p_qk, 1) * 9.0 / 2))
    pair_weight = np.sqrt(1.0 / 3)

    gamma = hk.get_parameter('trainable_point_weights', [h], single.dtype,
                             hk.initializers.Constant(np.log(np.exp(1.0) - 1.0)))
    head_point_weight = point_weight * jax.nn.softplus(gamma)  # [h]
    attention_2d = Linear(h, name='attention_2d')
    mask = mask.astype(single.dtype)

    def query_rows(pair_rows, start):  # pair rows [n, N, c_z] of queries start.. -> [n, F]
      if pair_norm is not None:
        pair_rows = pair_norm(pair_rows)
      rows = lambda x: inplace.take_rows(x, start, pair_rows.shape[0])  # queries' rows
      logits_scalar = jnp.einsum('ihc,jhc->hij', rows(q) * scalar_weight, k,
                                 precision=_HIGHEST)  # [h, n, N]
      # Squared distances summed over xyz, kept elementwise (exact in fp32 on every backend).
      dist2 = jnp.sum(jnp.square(rows(q_pts)[:, None] - k_pts[None, :]), -1)  # [n, N, h, p_qk]
      logits_point = -0.5 * jnp.einsum('ijhp,h->hij', dist2, head_point_weight,
                                       precision=_HIGHEST)  # [h, n, N]
      bias_pair = attention_2d(pair_rows)  # [n, N, h]
      logits = logits_scalar + logits_point + pair_weight * jnp.transpose(bias_pair, (2, 0, 1))
      mask_2d = rows(mask)[:, None] * mask[None, :]  # [n, N]
      logits = logits - 1e5 * (1.0 - mask_2d)  # [h, n, N]
      attn = jax.nn.softmax(logits, axis=-1)  # [h, n_query, N_key]

      # ---- attended values (Alg. 22 lines 8-10) ----
      out_scalar = jnp.einsum('hij,jhc->ihc', attn, v, precision=_HIGHEST)  # [n, h, c_v]
      out_pts = jnp.einsum('hij,jhpx->ihpx', attn, v_pts, precision=_HIGHEST)  # [n, h, p_v, 3]
      out_pts = frames_hp.map(rows).invert_apply(out_pts)  # [n, h, p_v, 3] in the query frame
      out_norm = jnp.sqrt(self.dist_epsilon + jnp.sum(jnp.square(out_pts), -1))  # [n, h, p_v]
      out_pair = jnp.einsum('hij,ijc->ihc', attn, pair_rows, precision=_HIGHEST)  # [n, h, c_z]
      m = pair_rows.shape[0]
      return jnp.concatenate([  # AF2's concatenation order
          out_scalar.reshape(m, h * c_v),
          out_pts[..., 0].reshape(m, h * p_v),
          out_pts[..., 1].reshape(m, h * p_v),
          out_pts[..., 2].reshape(m, h * p_v),
          out_norm.reshape(m, h * p_v),
          out_pair.reshape(m, h * pair.shape[-1]),
      ], axis=-1)  # [n, h * (c_v + 4 p_v + c_z)]

    if memory_policy.inplace_pair(self.gc, is_training):  # blocks of query rows, no [h, N, N]
      row_bytes = 4 * n * max(h * (p_qk + 3), pair.shape[-1])  # dist2 / pair row, fp32
      features = inplace.build_from_rows(pair, query_rows,
                                         memory_policy.pair_update_rows(self.gc, row_bytes))
    else:
      features = query_rows(pair, 0)  # [N, F]

    # ---- output projection (Alg. 22 line 11) ----
    return Linear(c.num_channel, initializer=final_init(self.gc),
                  name='output_projection')(features)
