"""The residual wrapper of every trunk sub-layer: act + Dropout(sublayer(...)).

Jumper et al. 2021, Suppl. 1.11.6 (shared dropout) and Alg. 6 / 16 / 18 (each line of an
Evoformer, template pair stack or extra-MSA block is such a residual update); AF3 Suppl. Alg. 17
(Pairformer) likewise. The branch may be rematerialised in the backward pass as the memory
policy says (ops/memory_policy.py `sublayer`); dropout stays outside the remat.

Shapes: act and the branch's update [N_a, N_b, c] (MSA [S, N, c_m] or pair [N, N, c_z]).
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp

from alphafold_jax.nn import dropout_residual
from alphafold_jax.ops import memory_policy
from alphafold_jax.ops.global_config import GlobalConfig


def residual(act: jnp.ndarray, module: Callable[..., jnp.ndarray], sub_config: Any,
             *args: jnp.ndarray, global_config: GlobalConfig, is_training: bool,
             remat: bool = True) -> jnp.ndarray:
  """act + Dropout(module(*args, is_training)), the dropout as `sub_config` says.

  sub_config: the sub-layer's config (fields dropout_rate, orientation, shared_dropout).
  remat: let the memory policy recompute the branch in the backward pass (Evoformer and
    Pairformer blocks); False runs it plainly (AF2's template pair stack).
  """
  branch = lambda *a: module(*a, is_training)
  if remat:
    branch = memory_policy.sublayer(branch, global_config, is_training)
  return dropout_residual(act, branch(*args), rate=sub_config.dropout_rate,
                          orientation=sub_config.orientation,
                          shared_dropout=sub_config.shared_dropout,
                          global_config=global_config, is_training=is_training)
