"""AlphaFold-Multimer v2.3: one iteration (trunk + structure module + heads) and recycling.

Evans et al. 2021; Jumper et al. 2021 Suppl. Alg. 2 with the multimer blocks of this package.
All recycles run inside one `hk.while_loop` (one jitted call). Every cycle draws its own MSA
sample: cycle i uses the key fold_in(K, i), K = the first `hk.next_rng_key()` of the call
(`msa_sampling`; AF2-Multimer runs one network call per cycle with a fresh key).

Haiku scopes equal DeepMind's `params_model_*_multimer_v3.npz`: alphafold/alphafold_iteration/
{evoformer, structure_module, distogram_head, masked_msa_head, predicted_lddt_head,
predicted_aligned_error_head, experimentally_resolved_head}.

Batch: AF2-Multimer features of ONE complex without an ensemble axis (`data_pipeline.multimer`
or DeepMind's `pipeline_multimer`): see embeddings_and_evoformer.py.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.common.confidence import predicted_tm_score
from alphafold_jax.model.alphafold import (ca_distance_change, confidence_outputs, next_prev,
                                           structure_and_heads)
from alphafold_jax.model.embedders import initial_recycling_state
from alphafold_jax.model.multimer.embeddings_and_evoformer import EmbeddingsAndEvoformer
from alphafold_jax.model.multimer.structure_module import StructureModule
from alphafold_jax.ops.precision import mixed_precision

Batch = Mapping[str, jnp.ndarray]
ModelConfig = Any  # read by fields, as model/alphafold.py

IPTM_WEIGHT = 0.8  # AF2-Multimer ranking: 0.8 ipTM + 0.2 pTM


class AlphaFoldIteration(hk.Module):
  """Trunk, structure module and heads for one cycle."""

  def __init__(self, config: ModelConfig, name: str = 'alphafold_iteration'):
    super().__init__(name=name)
    self.config = config

  def __call__(self, batch: Batch, prev: Mapping[str, jnp.ndarray], cycle_key: jnp.ndarray,
               is_training: bool) -> dict:
    c, gc = self.config, self.config.global_config
    trunk = EmbeddingsAndEvoformer(c.evoformer, gc)
    reps = mixed_precision(trunk, enabled=gc.bfloat16)(batch, prev, cycle_key, is_training)
    return structure_and_heads(c, StructureModule, reps, batch, is_training)


class AlphaFold(hk.Module):
  """AF2-Multimer with recycling; call (batch, is_training, num_recycle=None, prev=None)."""

  def __init__(self, config: ModelConfig, name: str = 'alphafold'):
    super().__init__(name=name)
    self.config = config

  def __call__(self, batch: Batch, is_training: bool = False,
               num_recycle: Optional[jnp.ndarray] = None,
               prev: Optional[Mapping[str, jnp.ndarray]] = None) -> dict:
    c = self.config
    impl = AlphaFoldIteration(c)
    num_res = batch['aatype'].shape[0]
    base_key = hk.next_rng_key()
    if prev is None:
      prev = initial_recycling_state(num_res, c.evoformer.msa_channel, c.evoformer.pair_channel)
    prev = {k: jnp.asarray(v, jnp.float32) for k, v in prev.items()}
    num_iter = c.num_recycle if num_recycle is None else num_recycle
    seq_mask = batch['seq_mask']

    def cycle(i, prev):
      return impl(batch, prev, jax.random.fold_in(base_key, i), is_training)

    if hk.running_init():
      num_done, tol = jnp.asarray(0, jnp.int32), jnp.asarray(jnp.inf, jnp.float32)
    else:
      def cond(carry):
        i, _, tol = carry
        return (i < num_iter) & (tol > c.recycle_early_stop_tolerance)

      def body(carry):
        i, prev, _ = carry
        new = next_prev(cycle(i, prev))
        return i + 1, new, ca_distance_change(prev['prev_pos'], new['prev_pos'], seq_mask)

      num_done, prev, tol = hk.while_loop(
          cond, body, (jnp.asarray(0, jnp.int32), prev, jnp.asarray(jnp.inf, jnp.float32)))
    ret = cycle(num_done, prev)
    ret['num_recycles'], ret['tol'] = num_done, tol
    ret['prev'] = next_prev(ret)
    return ret


def multimer_confidence_outputs(ret: dict, batch: Batch) -> dict:
  """pLDDT, PAE, pTM, ipTM (inter-chain pairs by asym_id) and the ranking confidence
  0.8 ipTM + 0.2 pTM (AF2-Multimer's `ranking_confidence`, here on a 0-1 scale)."""
  seq_mask = batch['seq_mask'].astype(jnp.float32)
  out = confidence_outputs(ret, seq_mask)
  if 'predicted_aligned_error' in ret:
    pae = ret['predicted_aligned_error']
    out['iptm'] = predicted_tm_score(pae['logits'], pae['breaks'], residue_weights=seq_mask,
                                     asym_id=batch['asym_id'])
    out['ranking_confidence'] = IPTM_WEIGHT * out['iptm'] + (1 - IPTM_WEIGHT) * out['ptm']
  return out
