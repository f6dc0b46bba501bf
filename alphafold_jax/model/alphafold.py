"""The AlphaFold2 model: one iteration (trunk + heads) and recycling around it.

Jumper et al. 2021, Suppl. Alg. 2 ("Inference"): the embeddings and Evoformer produce single,
pair and MSA representations; the heads read them; the structure module's final atoms, the
first MSA row and the pair representation are recycled into the next iteration with the
gradient stopped (Suppl. 1.10). All cycles run inside one `hk.while_loop`.

Haiku scopes match DeepMind's v2.3 monomer parameter files:
  alphafold/alphafold_iteration/{evoformer, structure_module, distogram_head, masked_msa_head,
  predicted_lddt_head, predicted_aligned_error_head, experimentally_resolved_head}.

Batch: AF2 processed features of ONE example with the leading ensemble axis
(`data_pipeline.process_features` or AF2's own pipeline), num_ensemble members per cycle
(`config.data.num_ensemble`, default 1): cycle i reads group min(i, groups - 1), so features
resampled per recycle (num_ensemble * (num_recycle + 1) members) are used in order.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.common.confidence import (compute_plddt, compute_predicted_aligned_error,
                                             predicted_tm_score)
from alphafold_jax.model.embedders import initial_recycling_state
from alphafold_jax.model.embeddings_and_evoformer import EmbeddingsAndEvoformer
from alphafold_jax.model.heads import (DistogramHead, ExperimentallyResolvedHead, MaskedMsaHead,
                                       PredictedAlignedErrorHead, PredictedLDDTHead)
from alphafold_jax.model.structure_module import StructureModule
from alphafold_jax.ops.precision import mixed_precision

Batch = Mapping[str, jnp.ndarray]
# The model reads a `ModelConfig` (alphafold_jax.config, the layer above, which also holds the
# input pipeline's and the losses' settings) by its fields only: global_config, evoformer,
# structure_module, heads, losses (which optional heads exist), num_recycle,
# recycle_early_stop_tolerance.
ModelConfig = Any


def built_heads(config: ModelConfig) -> dict:
  """Which optional heads exist. As in AF2, a head whose loss weight is 0 is not built; the
  loss weights (config.losses) are the one home of that choice. Distogram and pLDDT heads
  are always built (their outputs are part of every prediction)."""
  w = config.losses
  return {'masked_msa': bool(w.masked_msa_weight),
          'experimentally_resolved': bool(w.experimentally_resolved_weight),
          'predicted_aligned_error': bool(w.pae_weight)}


def _member(batch: Batch, index) -> Batch:
  """Ensemble member `index` (traced or static) of a batch with a leading ensemble axis."""
  return jax.tree_util.tree_map(lambda x: jax.lax.dynamic_index_in_dim(x, index, 0, False),
                                dict(batch))


class AlphaFoldIteration(hk.Module):
  """One pass of Suppl. Alg. 2 lines 5-22: trunk, structure module and heads.

  `batch` holds the E ensemble members of this cycle ([E, ...]). With E > 1 the trunk runs on
  each member and its representations are averaged, except the MSA representation, which is
  member 0's, as are the features the structure module and heads read (AF2's
  `ensemble_representations`, Suppl. 1.11.2; used by the CASP14 preset's num_ensemble 8).
  """

  def __init__(self, config: ModelConfig, name: str = 'alphafold_iteration'):
    super().__init__(name=name)
    self.config = config

  def __call__(self, batch: Batch, prev: Mapping[str, jnp.ndarray], is_training: bool) -> dict:
    c, gc = self.config, self.config.global_config
    num_ensemble = batch['aatype'].shape[0]
    # bf16 compute in the trunk with fp32 parameters and fp32 representations out, as AF2's
    # `bfloat16` (ops/precision.py); the structure module and heads stay fp32. The inputs stay
    # fp32: the trunk casts them where AF2 does, after the fp32 geometry of recycled and
    # template positions (distogram bins, unit vectors) and the LayerNorms of prev_pair /
    # prev_msa_first_row.
    trunk = mixed_precision(EmbeddingsAndEvoformer(c.evoformer, gc), enabled=gc.bfloat16,
                            cast_inputs=False)
    reps = trunk(_member(batch, 0), prev, is_training)
    if num_ensemble > 1:
      msa = reps.pop('msa')  # not averaged

      def add_member(j, total):
        update = trunk(_member(batch, j), prev, is_training)
        return {k: total[k] + update[k] for k in total}

      if hk.running_init():  # one call creates the (shared) parameters
        total = add_member(1, reps)
      else:
        total = hk.fori_loop(1, num_ensemble, add_member, reps)
      reps = {k: v / num_ensemble for k, v in total.items()}
      reps['msa'] = msa
    batch = _member(batch, 0)  # not ensembled from here on
    return structure_and_heads(c, StructureModule, reps, batch, is_training)


def structure_and_heads(config: ModelConfig, structure_module_cls, reps: dict, batch: Batch,
                        is_training: bool) -> dict:
  """Suppl. Alg. 2 lines 19-22 after the trunk: the structure module (the monomer's or the
  multimer's class) and the heads that exist (`built_heads`). Shared by both model flavours."""
  gc, h, build = config.global_config, config.heads, built_heads(config)
  key = hk.next_rng_key() if is_training else None
  ret = {'representations': reps}
  ret['structure_module'] = structure_module_cls(config.structure_module, gc)(
      reps['single'], reps['pair'], batch['aatype'], batch['seq_mask'],
      is_training=is_training, key=key)
  ret['distogram'] = DistogramHead(h.distogram, gc)(reps['pair'], is_training)
  if build['masked_msa']:
    ret['masked_msa'] = MaskedMsaHead(h.masked_msa, gc)(reps['msa'])
  if build['experimentally_resolved']:
    ret['experimentally_resolved'] = ExperimentallyResolvedHead(
        h.experimentally_resolved, gc)(reps['single'])
  ret['predicted_lddt'] = PredictedLDDTHead(h.predicted_lddt, gc)(
      ret['structure_module']['act'])
  if build['predicted_aligned_error']:
    ret['predicted_aligned_error'] = PredictedAlignedErrorHead(
        h.predicted_aligned_error, gc)(reps['pair'], is_training)
  return ret


def next_prev(ret: dict) -> dict:
  """The recycled quantities of Suppl. Alg. 2 lines 6 and 21-22 (gradient stopped)."""
  return jax.lax.stop_gradient({
      'prev_msa_first_row': ret['representations']['msa_first_row'],
      'prev_pair': ret['representations']['pair'],
      'prev_pos': ret['structure_module']['final_atom_positions']})


def ca_distance_change(prev_pos: jnp.ndarray, new_pos: jnp.ndarray,
                       seq_mask: jnp.ndarray) -> jnp.ndarray:
  """RMS change (angstrom) of the CA distance matrix between two cycles (rotation invariant)."""
  ca = rc.atom_order['CA']

  def dmat(x):
    return jnp.sqrt(jnp.sum(jnp.square(x[:, None, ca] - x[None, :, ca]), -1) + 1e-8)  # [N, N]

  mask = seq_mask[:, None] * seq_mask[None, :]  # [N, N]
  sq = jnp.square(dmat(prev_pos) - dmat(new_pos))
  return jnp.sqrt(jnp.sum(mask * sq) / (jnp.sum(mask) + 1e-8))


class AlphaFold(hk.Module):
  """AlphaFold2 with recycling (Suppl. Alg. 2), all cycles in one compiled loop.

  Call: (batch, is_training, num_recycle=None) where num_recycle may be a traced int (training
  samples it per step); None uses config.num_recycle. The first num_recycle cycles run under
  stop_gradient in `hk.while_loop`; the last cycle carries gradients. With
  config.recycle_early_stop_tolerance > 0 the loop stops once the CA distance matrix changes
  by less than that (angstrom, RMS).
  """

  def __init__(self, config: ModelConfig, name: str = 'alphafold'):
    super().__init__(name=name)
    self.config = config

  def __call__(self, batch: Batch, is_training: bool = False,
               num_recycle: Optional[jnp.ndarray] = None,
               prev: Optional[Mapping[str, jnp.ndarray]] = None) -> dict:
    c = self.config
    impl = AlphaFoldIteration(c)
    num_members = batch['aatype'].shape[0]
    num_res = batch['aatype'].shape[1]
    num_ensemble = c.data.num_ensemble
    if num_members % num_ensemble:
      raise ValueError(f'the features hold {num_members} ensemble members, not a multiple of '
                       f'num_ensemble={num_ensemble}')
    num_groups = num_members // num_ensemble

    def member(i):
      """The num_ensemble members of cycle i: group min(i, groups - 1) of the leading axis."""
      start = jnp.minimum(i, num_groups - 1) * num_ensemble
      return jax.tree_util.tree_map(
          lambda x: jax.lax.dynamic_slice_in_dim(x, start, num_ensemble, 0), dict(batch))

    if prev is None:
      ec = c.evoformer
      prev = initial_recycling_state(num_res, ec.msa_channel, ec.pair_channel)
    prev = {k: jnp.asarray(v, jnp.float32) for k, v in prev.items()}
    num_iter = c.num_recycle if num_recycle is None else num_recycle
    seq_mask = batch['seq_mask'][0]  # [N]

    if hk.running_init():
      num_done = jnp.asarray(0, jnp.int32)
      tol = jnp.asarray(jnp.inf, jnp.float32)
    else:
      def cond(carry):
        i, _, tol = carry
        return (i < num_iter) & (tol > c.recycle_early_stop_tolerance)

      def body(carry):
        i, prev, _ = carry
        new = next_prev(impl(member(i), prev, is_training))
        tol = ca_distance_change(prev['prev_pos'], new['prev_pos'], seq_mask)
        return i + 1, new, tol

      init = (jnp.asarray(0, jnp.int32), prev, jnp.asarray(jnp.inf, jnp.float32))
      num_done, prev, tol = hk.while_loop(cond, body, init)

    ret = impl(member(num_done), prev, is_training)
    ret['num_recycles'] = num_done
    ret['tol'] = tol
    ret['prev'] = next_prev(ret)
    return ret


def confidence_outputs(ret: dict, seq_mask: jnp.ndarray) -> dict:
  """pLDDT (0-100), and PAE/pTM when the model has the PAE head (AF2 output keys)."""
  out = {'plddt': compute_plddt(ret['predicted_lddt']['logits'])}
  if 'predicted_aligned_error' in ret:
    pae = ret['predicted_aligned_error']
    out.update(compute_predicted_aligned_error(pae['logits'], pae['breaks']))
    out['ptm'] = predicted_tm_score(pae['logits'], pae['breaks'], residue_weights=seq_mask)
  return out
