"""Transition: the position-wise two-layer MLP of the MSA and pair stacks.

Jumper et al. 2021, Suppl. Alg. 9 "MSATransition" and Alg. 15 "PairTransition":
  a = LayerNorm(x);  x <- Linear(relu(Linear(a)))   with the hidden width n * c.

Shapes: act [N_a, N_b, c] (MSA [N_seq, N_res, c_m] or pair [N_res, N_res, c_z]),
hidden [N_a, N_b, n * c]. At inference the MLP runs in chunks of rows (axis 0).
"""

from __future__ import annotations

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.nn import LayerNorm, final_init, linear_params
from alphafold_jax.ops import chunking, inplace, memory_policy


@dataclasses.dataclass(frozen=True)
class TransitionConfig:
  """AF2 model_1_ptm defaults (msa_transition and pair_transition; template pair: factor 2)."""
  num_intermediate_factor: int = 4
  dropout_rate: float = 0.0
  orientation: str = 'per_row'
  shared_dropout: bool = True
  swiglu: bool = False  # AF3 (Abramson et al. 2024, Suppl. Alg. 11) SwiGLU transition, no biases


def _relu_mlp(x, w1, b1, w2, b2):
  """x [n_a, N_b, c] -> Linear(relu(Linear(x))) [n_a, N_b, c] (hidden [n_a, N_b, n*c])."""
  hidden = jax.nn.relu(jnp.einsum('abc,ch->abh', x, w1) + b1)  # [n_a, N_b, n*c]
  return jnp.einsum('abh,hc->abc', hidden, w2) + b2  # [n_a, N_b, c]


class Transition(hk.Module):
  """Position-wise MLP (Suppl. Alg. 9 MSA transition, Alg. 15 pair transition).

  Returns the residual update; padded positions are not masked (AF2 leaves them alone and every
  consumer masks them), and each position only sees itself, so padding cannot leak.
  """

  def __init__(self, config: TransitionConfig, global_config: GlobalConfig,
               name: str = 'transition_block'):
    super().__init__(name=name)
    self.config = config
    self.global_config = global_config

  def __call__(self, act: jnp.ndarray, mask: jnp.ndarray, is_training: bool = False, *,
               add_to_input: bool = False) -> jnp.ndarray:
    """act [N_a, N_b, c], mask [N_a, N_b] (unused, kept for the uniform block signature).

    add_to_input (inference, set by the memory policy): act + update, in place by row blocks."""
    if add_to_input:
      return self._residual_inplace(act, mask)
    del mask
    num_channel = act.shape[-1]
    num_hidden = int(num_channel * self.config.num_intermediate_factor)
    act = LayerNorm(name='input_layer_norm')(act)
    if self.config.swiglu:
      return self._swiglu(act, num_hidden, is_training)
    w1, b1 = linear_params('transition1', num_channel, num_hidden, act.dtype, 'relu')
    w2, b2 = linear_params('transition2', num_hidden, num_channel, act.dtype,
                           final_init(self.global_config))

    mlp = lambda x: _relu_mlp(x, w1, b1, w2, b2)
    chunks = memory_policy.chunk_policy(self.global_config, is_training)
    return chunking.chunked_map(mlp, chunks, [act])

  @hk.transparent
  def _residual_inplace(self, act: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """act + self(act, mask) in blocks of rows written back in place (inference; ReLU MLP)."""
    del mask
    if self.config.swiglu:
      raise NotImplementedError('in-place transition: ReLU (AF2) transitions only')
    dtype = memory_policy.pair_compute_dtype(self.global_config, act.dtype)
    num_channel = act.shape[-1]
    num_hidden = int(num_channel * self.config.num_intermediate_factor)
    norm = LayerNorm(name='input_layer_norm')
    w1, b1 = linear_params('transition1', num_channel, num_hidden, dtype, 'relu')
    w2, b2 = linear_params('transition2', num_hidden, num_channel, dtype,
                           final_init(self.global_config))
    rows = memory_policy.pair_update_rows(self.global_config, act.shape[1] * num_hidden * 4)
    return inplace.update_rows_inplace(
        act, lambda x, _: _relu_mlp(norm(x), w1, b1, w2, b2), rows, compute_dtype=dtype)

  @hk.transparent
  def _swiglu(self, act: jnp.ndarray, num_hidden: int, is_training: bool) -> jnp.ndarray:
    """AF3 transition: Linear(silu(a) * b) with a, b = LinearNoBias(x) (params not in AF2 files)."""
    num_channel = act.shape[-1]
    w_in, _ = linear_params('transition1', num_channel, 2 * num_hidden, act.dtype, 'linear',
                            use_bias=False)
    w_out, _ = linear_params('transition2', num_hidden, num_channel, act.dtype,
                             final_init(self.global_config), use_bias=False)

    def mlp(x):
      ab = jnp.einsum('abc,ch->abh', x, w_in)  # [n_a, N_b, 2 n c]
      hidden = jax.nn.silu(ab[..., :num_hidden]) * ab[..., num_hidden:]  # [n_a, N_b, n c]
      return jnp.einsum('abh,hc->abc', hidden, w_out)  # [n_a, N_b, c]

    chunks = memory_policy.chunk_policy(self.global_config, is_training)
    return chunking.chunked_map(mlp, chunks, [act])
