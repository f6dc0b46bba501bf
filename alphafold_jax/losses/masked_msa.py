"""Masked-MSA (BERT) loss (Jumper et al. 2021, Suppl. Sec. 1.9.9, eq. 42).

Cross entropy between predicted residue-type logits and the true MSA at BERT-masked
positions only. Shapes: S = MSA rows, N = residues, C = classes (23 for the monomer model).
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from alphafold_jax.losses._keys import lookup
from alphafold_jax.losses._utils import softmax_cross_entropy
from alphafold_jax.losses.config import LossConfig


def masked_msa_cross_entropy(logits: jnp.ndarray, true_msa: jnp.ndarray,
                             bert_mask: jnp.ndarray) -> jnp.ndarray:
  """logits [S, N, C], true_msa [S, N] ints, bert_mask [S, N] -> mean CE over masked cells."""
  if logits.shape[:-1] != true_msa.shape:
    raise ValueError(f'masked MSA logits {logits.shape} do not match true_msa {true_msa.shape}')
  errors = softmax_cross_entropy(
      logits, jax.nn.one_hot(true_msa, logits.shape[-1]))  # [S, N]
  bert_mask = jnp.asarray(bert_mask, jnp.float32)
  return jnp.sum(errors * bert_mask) / (1e-8 + jnp.sum(bert_mask))


def masked_msa_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                    config: LossConfig = LossConfig()):
  """predictions['masked_msa']['logits'] [S, N, C]; batch 'true_msa', 'bert_mask' [S, N]."""
  del config  # no masked-MSA setting besides its weight (applied by alphafold_loss)
  logits = lookup(predictions, 'masked_msa', 'logits')
  loss = masked_msa_cross_entropy(logits, lookup(batch, 'true_msa', what='batch'),
                                  lookup(batch, 'bert_mask', what='batch'))
  return loss, {'masked_msa_loss': loss}
