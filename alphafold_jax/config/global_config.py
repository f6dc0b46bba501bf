"""Settings shared by every module (AF2's `global_config`)."""

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class GlobalConfig:
  """Model-wide switches; none of them changes the maths in fp32.

  deterministic: disable dropout (inference).
  subbatch_size: chunk size for attention/transition/outer-product-mean at inference;
    None = no chunking. Set from one place (a preset or `ops.chunking` length table).
  use_remat: rematerialise each stacked block in the backward pass.
  zero_init: AF2's zero initialisation of final layers of residual branches.
  bfloat16: bf16 compute with fp32 parameters.
  eval_dropout: keep dropout on at inference (AF2 option).
  """
  deterministic: bool = False
  subbatch_size: Optional[int] = 4
  use_remat: bool = False
  zero_init: bool = True
  bfloat16: bool = False
  eval_dropout: bool = False
