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

  inplace_pair_updates  at inference, every pair sub-layer (and the outer product mean, the MSA
                     row attention's pair bias, the L x L heads) works on blocks of pair rows
                     and writes them back in place (ops/inplace.py); block rows from
                     `pair_update_rows` (chunk_budget_mib over one row's widest intermediate).
  pair_storage_bfloat16  keep the pair in bf16 between sub-layers (`pair_dtypes`).

`long_sequence_inference(gc)` switches the last two on (with a chunk budget);
`policy_for_length` picks it from a sequence length and a memory budget (used by `predict`).
`auto_chunking(gc)` sets the inference chunking from a budget (AUTO_CHUNK_BUDGET_MIB) instead
of AF2's fixed 4 rows; `low_memory_training(gc)` switches on the three training savings at
once. With it, one Evoformer iteration at model_1_ptm widths, (N_seq, L) = (128, 256),
differentiates in 1.08 GiB of XLA temp instead of 6.6 GiB (experiments/benchmarks/README.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import haiku as hk
import jax.numpy as jnp

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
# Per-chunk budget of `long_sequence_inference`: rows of the pair per in-place block and the
# attention chunks inside them (one pair row of the pair transition's hidden layer is
# N * 4 c_z * 4 bytes = 6 MiB at L 3072, so ~10 rows per block).
LONG_SEQUENCE_CHUNK_BUDGET_MIB = 64


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


def long_sequence_inference(global_config: GlobalConfig,
                            chunk_budget_mib: float = LONG_SEQUENCE_CHUNK_BUDGET_MIB,
                            bfloat16_pair: bool = False) -> GlobalConfig:
  """global_config for long inputs at inference: budgeted chunks, in-place pair row blocks,
  optionally bf16 pair storage. Training is unchanged (the in-place path is inference-only)."""
  return dataclasses.replace(global_config, chunk_budget_mib=chunk_budget_mib,
                             inplace_pair_updates=True, pair_storage_bfloat16=bfloat16_pair)


def inplace_pair(global_config: GlobalConfig, is_training: bool) -> bool:
  """Whether pair updates run as in-place row blocks (inference with dropout off only)."""
  gc = global_config
  dropout_on = (is_training or gc.eval_dropout) and not gc.deterministic
  return gc.inplace_pair_updates and not is_training and not dropout_on


def pair_update_rows(global_config: GlobalConfig, row_bytes: int) -> int:
  """Rows per in-place block, so that one block's widest intermediate (row_bytes per row)
  stays under the chunk budget (LONG_SEQUENCE_CHUNK_BUDGET_MIB when none is set)."""
  budget = global_config.chunk_budget_mib or LONG_SEQUENCE_CHUNK_BUDGET_MIB
  return max(1, int(budget * MIB) // max(int(row_bytes), 1))


def pair_storage_dtype(global_config: GlobalConfig, dtype):
  """dtype the pair is kept in between sub-layers, for a trunk computing in `dtype`."""
  if global_config.inplace_pair_updates and global_config.pair_storage_bfloat16:
    return jnp.bfloat16
  return dtype


def pair_compute_dtype(global_config: GlobalConfig, stored_dtype):
  """dtype a block of pair rows is computed in, given the pair's stored dtype (fp32 for bf16
  storage unless the trunk itself computes in bf16, `GlobalConfig.bfloat16`)."""
  if (global_config.inplace_pair_updates and global_config.pair_storage_bfloat16
      and not global_config.bfloat16):
    return jnp.float32
  return stored_dtype


# Default-path estimate of one Evoformer iteration's compiled memory in bytes per L^2 (fp32,
# model_1_ptm widths), fitted to XLA's memory analysis (experiments/benchmarks/README.md,
# issue 17 table): about 12 pair-sized buffers live at the peak.
DEFAULT_PATH_BYTES_PER_RESIDUE_PAIR = 12 * 128 * 4


def policy_for_length(global_config: GlobalConfig, num_res: int,
                      memory_budget_gib: Optional[float] = None) -> GlobalConfig:
  """The inference policy `predict` uses: the default (auto_chunking) when the default path's
  estimated peak fits the budget, else `long_sequence_inference` (bf16 pair storage too when
  even one fp32 pair copy plus one projection would not fit)."""
  if memory_budget_gib is None:
    return global_config
  budget = memory_budget_gib * 2 ** 30
  if DEFAULT_PATH_BYTES_PER_RESIDUE_PAIR * num_res ** 2 <= budget:
    return auto_chunking(global_config)
  fp32_long = 4 * 128 * 4 * num_res ** 2  # pair in + out, one projection, headroom
  return long_sequence_inference(global_config, bfloat16_pair=fp32_long > budget)
