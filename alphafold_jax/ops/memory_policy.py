"""The memory policy: chunk sizes and remat, chosen in ONE place from `GlobalConfig`.

Every chunked sub-layer (attentions, transitions, outer product mean) asks `chunk_policy` how
to split its batch axis; every residual branch of an Evoformer / Pairformer block goes
through `sublayer`; stacked blocks read `block_remat`. Nothing is chosen at a call site.

GlobalConfig fields read here (defaults reproduce AF2):

  subbatch_size      rows per chunk at inference (AF2: 4; None = no chunking); as in AF2 the
                     outer product mean and the template point-wise attention then use their
                     own configured chunks (128 rows each), passed in as `rows`.
  chunk_budget_mib   if set, overrides subbatch_size: each chunked sub-layer picks its rows so
                     the largest intermediate of one chunk is <= this many MiB (read from the
                     traced program, `chunking.largest_intermediate_bytes`). Short inputs then
                     run in one piece, long ones in as many chunks as they need.
  chunk_in_training  chunk in training too (AF2 never does), with the same sizes; each chunk
                     is checkpointed, so the backward pass runs chunk by chunk as well.
  remat_sublayers    in training, recompute each residual branch (one sub-layer) in the
                     backward pass: a block keeps only its sub-layer inputs, and the peak is
                     one sub-layer's working set instead of the whole block's activations.
  use_remat          recompute each stacked block in the backward pass (layer_stack).

`auto_chunking(gc)` sets the inference chunking from a budget (AUTO_CHUNK_BUDGET_MIB) instead
of AF2's fixed 4 rows; `low_memory_training(gc)` switches on the three training savings at
once. With it, one Evoformer iteration at model_1_ptm widths, (N_seq, L) = (128, 256),
differentiates in 1.08 GiB of XLA temp instead of 6.6 GiB (experiments/benchmarks/README.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import haiku as hk

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.ops.chunking import ChunkPolicy
from alphafold_jax.ops.remat import remat_in_backward

MIB = 2 ** 20
LOW_MEMORY_CHUNK_BUDGET_MIB = 64  # per-chunk intermediate budget of `low_memory_training`
# Inference budget of `auto_chunking`, chosen for speed on CPU (chunks that stay in cache): the
# [H, N, N] logits of one MSA row are 2 MiB at L 256 (8 rows per chunk) and 128 MiB at L 2048
# (1 row). Measured (issue 10): whole model L=64 0.86-0.92x the oracle at 4-64 MiB, 1.48x at 256
# MiB (2048-row chunks of the 5120-row extra MSA); Evoformer (128, 256) fwd ~0.65x at 16-256 MiB.
AUTO_CHUNK_BUDGET_MIB = 16


def chunk_policy(global_config: GlobalConfig, is_training: bool,
                 rows: Optional[int] = None) -> ChunkPolicy:
  """How a chunked sub-layer splits its batch axis (see the module docstring).

  rows: the sub-layer's own fixed chunk from its AF2 config, used instead of
  `subbatch_size` when fixed-rows chunking is on (AF2: `outer_product_mean.chunk_size` and
  `template.subbatch_size`, 128 each). A memory budget, or chunking switched off, overrides it.
  """
  gc = global_config
  if is_training and not gc.chunk_in_training:
    return ChunkPolicy()  # AF2: no chunking in training
  if gc.chunk_budget_mib is not None:
    return ChunkPolicy(max_chunk_bytes=int(gc.chunk_budget_mib * MIB), remat=is_training)
  if gc.subbatch_size is None:
    return ChunkPolicy()
  return ChunkPolicy(rows=gc.subbatch_size if rows is None else rows, remat=is_training)


def block_remat(global_config: GlobalConfig) -> bool:
  """Whether each stacked block is recomputed in the backward pass."""
  return global_config.use_remat


def remat_sublayers(global_config: GlobalConfig, is_training: bool) -> bool:
  """Whether each residual branch is recomputed in the backward pass (training only)."""
  return is_training and global_config.remat_sublayers


def sublayer(fn: Callable[..., Any], global_config: GlobalConfig,
             is_training: bool) -> Callable[..., Any]:
  """fn (a residual branch that may build/call Haiku modules), rematerialised if the policy says.

  fn is traced once and its Haiku parameters enter the recomputation as explicit inputs
  (`ops.remat.remat_in_backward`), so parameter names are unchanged; at init the branch runs
  plainly, since there is no backward pass to save memory in.
  """
  if not remat_sublayers(global_config, is_training) or hk.running_init():
    return fn
  return remat_in_backward(fn)


def low_memory_training(global_config: GlobalConfig,
                        chunk_budget_mib: float = LOW_MEMORY_CHUNK_BUDGET_MIB,
                        use_remat: bool = True) -> GlobalConfig:
  """global_config with chunked + checkpointed sub-layers in training and per-block remat."""
  return dataclasses.replace(global_config, chunk_budget_mib=chunk_budget_mib,
                             chunk_in_training=True, remat_sublayers=True, use_remat=use_remat)


def auto_chunking(global_config: GlobalConfig,
                  chunk_budget_mib: float = AUTO_CHUNK_BUDGET_MIB) -> GlobalConfig:
  """global_config with inference chunks sized from a memory budget (not AF2's fixed rows)."""
  return dataclasses.replace(global_config, chunk_budget_mib=chunk_budget_mib)
