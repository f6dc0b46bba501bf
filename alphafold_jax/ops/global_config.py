"""Settings shared by every module (AF2's `global_config`)."""

import dataclasses
import numbers
from typing import Optional


class GlobalConfigError(ValueError):
  """Raised for an invalid global setting."""


@dataclasses.dataclass(frozen=True)
class GlobalConfig:
  """Model-wide switches; none of them changes the maths in fp32.

  deterministic: disable dropout (inference).
  subbatch_size: rows per chunk for attention/transition/outer-product-mean at inference;
    None = no chunking (AF2 default 4).
  chunk_budget_mib: if set, overrides subbatch_size: each chunked sub-layer picks its rows so
    the largest intermediate of one chunk stays under this many MiB.
  chunk_in_training: chunk in training too (AF2 never does); chunks are checkpointed so the
    backward pass runs chunk by chunk.
  remat_sublayers: in training, recompute each residual branch of an Evoformer/Pairformer
    block in the backward pass.
  use_remat: rematerialise each stacked block in the backward pass.
  zero_init: AF2's zero initialisation of final layers of residual branches.
  bfloat16: bf16 compute in the trunk (embeddings + Evoformer) with fp32 parameters, LayerNorm
    statistics and outputs (AF2's `bfloat16`; ops/precision.py). The one precision switch, for
    inference and training alike.
  eval_dropout: keep dropout on at inference (AF2 option).
  inplace_pair_updates: at inference, update the pair representation block of rows by block of
    rows in place (ops/inplace.py): no sub-layer makes a whole [N, N, c] intermediate.
  pair_storage_bfloat16: with inplace_pair_updates, keep the pair in bfloat16 between
    sub-layers (each row block is computed in the compute dtype); changes values (bf16 rounding).
  residue_shard_axis: mesh axis name over which one example's residue axis is split (pair rows
    or columns, MSA rows or residues per sub-layer; ops/sharding_rules.py); None = no split.

  The memory fields are read in one place, `alphafold_jax.ops.memory_policy`.
  """
  deterministic: bool = False
  subbatch_size: Optional[int] = 4
  use_remat: bool = False
  zero_init: bool = True
  bfloat16: bool = False
  eval_dropout: bool = False
  chunk_budget_mib: Optional[float] = None
  chunk_in_training: bool = False
  remat_sublayers: bool = False
  inplace_pair_updates: bool = False
  pair_storage_bfloat16: bool = False
  residue_shard_axis: Optional[str] = None

  def __post_init__(self):
    if self.subbatch_size is not None and (not isinstance(self.subbatch_size, numbers.Integral)
                                           or isinstance(self.subbatch_size, bool)
                                           or self.subbatch_size <= 0):
      raise GlobalConfigError(
          f'subbatch_size must be a positive int or None, got {self.subbatch_size!r}')
    if self.chunk_budget_mib is not None and not self.chunk_budget_mib > 0:
      raise GlobalConfigError(
          f'chunk_budget_mib must be positive or None, got {self.chunk_budget_mib!r}')
