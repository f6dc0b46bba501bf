"""Invariant Point Attention, AlphaFold-Multimer v2.3 parametrisation (Suppl. Alg. 22).

Same attention as the monomer IPA (`model/ipa.py`): logits = w_L (scalar q.k / sqrt(c)
+ pair bias - w_h/2 sum_p |T_i q_ip - T_j k_jp|^2), values = scalars, points (returned to the
query's local frame, with their norms) and attended pair features. Multimer's parameter layout
differs: separate `q/k/v_scalar_projection` (no bias) and `q/k/v_point_projection/
point_projection` Linear maps to [H, 3 P] (x | y | z blocks, with bias) whose points are placed
in the global frame right away.

DISCREPANCY: the padding mask adds -1e5 to the logits BEFORE the sqrt(1/3) weight (the monomer
adds it after); w_P = sqrt(2 / (9 P_qk)) carries no sqrt(1/3) of its own, the common factor is
applied once to the sum. Equal logits for real residues.

Shapes: N = residues, H = heads, C = scalar channels per head, P = points per head,
c_s = single channels, c_z = pair channels. Frames (our `Rigid`) hold the structure module's
internal units (angstrom / position_scale).
"""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model.ipa import InvariantPointAttentionConfig
from alphafold_jax.nn import Linear
from alphafold_jax.ops.global_config import GlobalConfig

_HIGHEST = jax.lax.Precision.HIGHEST


def project_points(act: jnp.ndarray, frames: Rigid, num_head: int, num_points: int,
                   name: str) -> jnp.ndarray:
  """Points predicted in each residue's local frame, returned in the global frame.

  act [N, c_s] -> [N, H, P, 3]. Params: `<name>/point_projection` weights [c_s, H, 3P].
  """
  with hk.experimental.name_scope(name):
    flat = Linear((num_head, 3 * num_points), name='point_projection')(act)  # [N, H, 3P]
  local = jnp.stack(jnp.split(flat, 3, axis=-1), axis=-1)  # [N, H, P, 3]
  return frames.map(lambda x: x[:, None, None]).apply(local)  # [N, H, P, 3]


class InvariantPointAttention(hk.Module):
  """Call: (act [N, c_s], pair [N, N, c_z], seq_mask [N], frames Rigid [N]) -> [N, c]."""

  def __init__(self, config: InvariantPointAttentionConfig, global_config: GlobalConfig,
               dist_epsilon: float = 1e-8, name: str = 'invariant_point_attention'):
    super().__init__(name=name)
    self.c, self.gc, self.eps = config, global_config, dist_epsilon

  def __call__(self, act, pair, seq_mask, frames: Rigid) -> jnp.ndarray:
    c = self.c
    h = c.num_head
    n = act.shape[0]
    raw_w = hk.get_parameter('trainable_point_weights', [h],
                             init=hk.initializers.Constant(np.log(np.exp(1.0) - 1.0)))
    point_w = np.sqrt(1.0 / (max(c.num_point_qk, 1) * 9.0 / 2)) * jax.nn.softplus(raw_w)  # [H]

    q_point = project_points(act, frames, h, c.num_point_qk, 'q_point_projection')  # [N,H,P,3]
    k_point = project_points(act, frames, h, c.num_point_qk, 'k_point_projection')
    dist2 = jnp.sum(jnp.square(q_point[:, None] - k_point[None, :]), axis=-1)  # [N, N, H, P]
    logits = -0.5 * jnp.sum(point_w[:, None] * dist2, axis=-1)  # [N(q), N(k), H]

    q = Linear((h, c.num_scalar_qk), use_bias=False, name='q_scalar_projection')(act)
    k = Linear((h, c.num_scalar_qk), use_bias=False, name='k_scalar_projection')(act)
    q = q * np.sqrt(1.0 / max(c.num_scalar_qk, 1))
    logits += jnp.einsum('qhc,khc->qkh', q, k, precision=_HIGHEST)  # [N, N, H]
    logits += Linear(h, name='attention_2d')(pair)  # [N, N, H]
    mask_2d = seq_mask[:, None] * seq_mask[None, :]  # [N, N]
    logits -= 1e5 * (1.0 - mask_2d[..., None])
    attn = jax.nn.softmax(logits * np.sqrt(1.0 / 3), axis=1)  # over keys

    v = Linear((h, c.num_scalar_v), use_bias=False, name='v_scalar_projection')(act)
    out_scalar = jnp.einsum('qkh,khc->qhc', attn, v, precision=_HIGHEST)  # [N, H, C]
    v_point = project_points(act, frames, h, c.num_point_v, 'v_point_projection')  # [N,H,Pv,3]
    out_global = jnp.einsum('qkh,khpx->qhpx', attn, v_point, precision=_HIGHEST)  # [N,H,Pv,3]
    out_global = out_global.reshape(n, h * c.num_point_v, 3)
    out_local = frames.map(lambda x: x[:, None]).invert_apply(out_global)  # [N, H*Pv, 3]
    norms = jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(out_local), -1), self.eps ** 2))
    out_pair = jnp.einsum('ijh,ijc->ihc', attn, pair, precision=_HIGHEST)  # [N, H, c_z]
    feats = jnp.concatenate([out_scalar.reshape(n, -1), out_local[..., 0], out_local[..., 1],
                             out_local[..., 2], norms, out_pair.reshape(n, -1)], axis=-1)
    final_init = 'zeros' if self.gc.zero_init else 'linear'
    return Linear(c.num_channel, initializer=final_init, name='output_projection')(feats)
