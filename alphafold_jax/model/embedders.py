"""Input, relative-position, extra-MSA and recycling embedders of AlphaFold2.

Jumper et al. 2021, Suppl. Alg. 2 ("Inference") lines 5-6 and 14-15, Suppl. Alg. 3
("InputEmbedder"), Alg. 4 ("relpos"), Alg. 5 ("one_hot"), Alg. 32 ("RecyclingEmbedder").

Every function here is a plain function (not an `hk.Module`): it creates its parameters
directly in the CURRENT Haiku scope. Call them inside the module named 'evoformer' (AF2's
`EmbeddingsAndEvoformer`, scope 'alphafold/alphafold_iteration/evoformer') and the
parameters land exactly where the official AF2 v2.3 monomer npz stores them:

  preprocess_1d, preprocess_msa, left_single, right_single, pair_activiations (sic),
  prev_pos_linear, prev_msa_first_row_norm, prev_pair_norm, extra_msa_activations.

Shapes: N_seq = clustered MSA rows, N_extra = extra MSA rows, N_res = residues,
c_m = msa_channel, c_z = pair_channel, c_e = extra_msa_channel. Features follow AF2's
processed-feature keys: target_feat [N_res, 22], msa_feat [N_seq, N_res, 49],
residue_index [N_res], extra_msa [N_extra, N_res] (int), extra_has_deletion /
extra_deletion_value [N_extra, N_res].

Padding: none of these maps mixes residues except through `residue_index` differences and
pairwise distances, so activations at real positions do not depend on padded ones.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional, Tuple

import jax
import jax.numpy as jnp

from alphafold_jax import nn
from alphafold_jax.common import residue_constants

# AF2 alphabet sizes: 20 amino acids + X + gap (+ BERT mask token for the MSA).
_NUM_EXTRA_MSA_CLASSES = 23


@dataclasses.dataclass(frozen=True)
class DistogramBins:
  """One-hot distance bins as AF2's `dgram_from_positions` uses them.

  min_bin: left edge of the first bin (angstrom); max_bin: left edge of the LAST bin, which
  is open-ended; num_bins: number of bins (left edges are linspace(min_bin, max_bin)).
  """
  min_bin: float
  max_bin: float
  num_bins: int


@dataclasses.dataclass(frozen=True)
class InputEmbedderConfig:
  """Suppl. Alg. 3 + 4 (model_1_ptm values)."""
  msa_channel: int = 256
  pair_channel: int = 128
  max_relative_feature: int = 32


@dataclasses.dataclass(frozen=True)
class RecyclingEmbedderConfig:
  """Suppl. Alg. 32 (model_1_ptm values).

  recycle_pos: embed the distogram of the previous pseudo-beta positions.
  recycle_features: add layer-normed previous first MSA row and previous pair.
  """
  msa_channel: int = 256
  pair_channel: int = 128
  prev_pos: DistogramBins = DistogramBins(min_bin=3.25, max_bin=20.75, num_bins=15)
  recycle_pos: bool = True
  recycle_features: bool = True


@dataclasses.dataclass(frozen=True)
class ExtraMsaEmbedderConfig:
  """Suppl. Alg. 2 line 14 (model_1_ptm values)."""
  extra_msa_channel: int = 64


# ----------------------------------------------------------------------------------------
# Geometry helpers shared with the template embedder.
# ----------------------------------------------------------------------------------------
def pseudo_beta_fn(aatype: jnp.ndarray, all_atom_positions: jnp.ndarray,
                   all_atom_mask: Optional[jnp.ndarray] = None):
  """CB position (CA for glycine) per residue.

  aatype [...] int, all_atom_positions [..., 37, 3], all_atom_mask [..., 37] or None.
  Returns pseudo_beta [..., 3] and, when a mask is given, pseudo_beta_mask [...] (float32).

  DISCREPANCY: Suppl. Alg. 32 speaks of C-beta positions; AF2's code uses C-alpha for glycine.
  """
  ca = residue_constants.atom_order['CA']
  cb = residue_constants.atom_order['CB']
  is_gly = aatype == residue_constants.restype_order['G']  # [...]
  pseudo_beta = jnp.where(is_gly[..., None], all_atom_positions[..., ca, :],
                          all_atom_positions[..., cb, :])  # [..., 3]
  if all_atom_mask is None:
    return pseudo_beta
  pseudo_beta_mask = jnp.where(is_gly, all_atom_mask[..., ca], all_atom_mask[..., cb])
  return pseudo_beta, pseudo_beta_mask.astype(jnp.float32)


def dgram_from_positions(positions: jnp.ndarray, bins: DistogramBins) -> jnp.ndarray:
  """One-hot distogram of pairwise distances (Suppl. Alg. 32 line 1 / Alg. 2 line 9).

  positions [N, 3] -> [N, N, num_bins] float32. Bin k holds lower_k < d < lower_{k+1}
  (compared on squared distances); the last bin is open-ended. A distance exactly on an edge
  lands in no bin, as in AF2.
  """
  lower = jnp.square(jnp.linspace(bins.min_bin, bins.max_bin, bins.num_bins))  # [B]
  upper = jnp.concatenate([lower[1:], jnp.array([1e8], lower.dtype)])  # [B]
  diff = positions[..., :, None, :] - positions[..., None, :, :]  # [N, N, 3]
  dist2 = jnp.sum(jnp.square(diff), axis=-1, keepdims=True)  # [N, N, 1]
  return ((dist2 > lower) & (dist2 < upper)).astype(jnp.float32)  # [N, N, B]


# ----------------------------------------------------------------------------------------
# Input embedder (Suppl. Alg. 3) and relative positions (Suppl. Alg. 4/5).
# ----------------------------------------------------------------------------------------
def relative_position_features(residue_index: jnp.ndarray, max_relative_feature: int,
                               asym_id: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """One-hot clipped residue offsets (Suppl. Alg. 4 + 5), no parameters.

  residue_index [N_res] -> [N_res, N_res, 2 * max_relative_feature + 1]; entry (i, j) encodes
  clip(r_i - r_j, -max, max). With `asym_id` (ColabFold-style multi-chain monomer input),
  pairs in different chains get the extreme bins: 2*max if asym_i > asym_j, else 0.
  """
  r = max_relative_feature
  offset = residue_index[:, None] - residue_index[None, :]  # [N_res, N_res]
  offset = jnp.clip(offset + r, 0, 2 * r)
  if asym_id is not None:
    chain_diff = asym_id[:, None] - asym_id[None, :]  # [N_res, N_res]
    offset = jnp.where(chain_diff == 0, offset, jnp.where(chain_diff > 0, 2 * r, 0))
  return jax.nn.one_hot(offset, 2 * r + 1, dtype=jnp.float32)  # [N_res, N_res, 2r+1]


def embed_relative_position(residue_index: jnp.ndarray, config: InputEmbedderConfig,
                            asym_id: Optional[jnp.ndarray] = None,
                            dtype=jnp.float32) -> jnp.ndarray:
  """Suppl. Alg. 4 'relpos' -> [N_res, N_res, c_z]. Param: `pair_activiations` (AF2's typo)."""
  feats = relative_position_features(residue_index, config.max_relative_feature, asym_id)
  return nn.Linear(config.pair_channel, name='pair_activiations')(feats.astype(dtype))


def embed_inputs(batch: Mapping[str, jnp.ndarray], config: InputEmbedderConfig,
                 dtype=jnp.float32) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Suppl. Alg. 3 'InputEmbedder' (including Alg. 4 relpos).

  batch: target_feat [N_res, 22], msa_feat [N_seq, N_res, 49], residue_index [N_res],
    optional asym_id [N_res].
  Returns msa_act [N_seq, N_res, c_m] and pair_act [N_res, N_res, c_z].
  Params (current scope): preprocess_1d, preprocess_msa, left_single, right_single,
  pair_activiations.

  DISCREPANCY: AF2 adds the recycling embeddings to the pair before relpos; here relpos is
  inside the input embedding, so the order of the additions differs (fp32 rounding only).
  """
  _require(batch, ('target_feat', 'msa_feat', 'residue_index'), 'embed_inputs')
  target_feat = batch['target_feat'].astype(dtype)  # [N_res, 22]
  msa_feat = batch['msa_feat'].astype(dtype)  # [N_seq, N_res, 49]
  if msa_feat.shape[-2] != target_feat.shape[0]:
    raise ValueError(f'msa_feat has {msa_feat.shape[-2]} residues but target_feat has '
                     f'{target_feat.shape[0]}')
  single = nn.Linear(config.msa_channel, name='preprocess_1d')(target_feat)  # [N_res, c_m]
  msa = nn.Linear(config.msa_channel, name='preprocess_msa')(msa_feat)  # [N_seq, N_res, c_m]
  msa_act = msa + single[None]  # [N_seq, N_res, c_m]

  left = nn.Linear(config.pair_channel, name='left_single')(target_feat)  # [N_res, c_z]
  right = nn.Linear(config.pair_channel, name='right_single')(target_feat)  # [N_res, c_z]
  pair_act = left[:, None] + right[None, :]  # [N_res, N_res, c_z]
  if config.max_relative_feature:
    pair_act = pair_act + embed_relative_position(
        batch['residue_index'], config, batch.get('asym_id'), dtype)
  return msa_act, pair_act


# ----------------------------------------------------------------------------------------
# Recycling embedder (Suppl. Alg. 32).
# ----------------------------------------------------------------------------------------
def embed_recycling(prev: Mapping[str, jnp.ndarray], aatype: jnp.ndarray,
                    config: RecyclingEmbedderConfig,
                    dtype=jnp.float32) -> Tuple[Optional[jnp.ndarray], jnp.ndarray]:
  """Suppl. Alg. 32 'RecyclingEmbedder'.

  prev: prev_pos [N_res, 37, 3] (atom37 of the previous cycle's structure; only the
    pseudo-beta is used), prev_msa_first_row [N_res, c_m], prev_pair [N_res, N_res, c_z].
    Keys are only required for the enabled parts of `config`.
  aatype [N_res] int (selects CA for glycine).
  Returns (msa_first_row_update [N_res, c_m] or None when recycle_features is off,
    pair_update [N_res, N_res, c_z]); the caller adds the first to msa_act[0] and the
    second to pair_act.
  Params (current scope): prev_pos_linear, prev_msa_first_row_norm, prev_pair_norm.

  DISCREPANCY: the paper bins CB distances into 15 bins from 3.375 A to 21.375 A; AF2's code
  uses left edges linspace(3.25, 20.75, 15) on pseudo-beta (CA for Gly) positions.
  """
  n_res = aatype.shape[0]
  pair_update = jnp.zeros((n_res, n_res, config.pair_channel), dtype)
  if config.recycle_pos:
    _require(prev, ('prev_pos',), 'embed_recycling')
    prev_beta = pseudo_beta_fn(aatype, prev['prev_pos'])  # [N_res, 3]
    dgram = dgram_from_positions(prev_beta, config.prev_pos).astype(dtype)  # [N_res, N_res, 15]
    pair_update += nn.Linear(config.pair_channel, name='prev_pos_linear')(dgram)
  msa_update = None
  if config.recycle_features:
    _require(prev, ('prev_msa_first_row', 'prev_pair'), 'embed_recycling')
    msa_update = nn.LayerNorm(name='prev_msa_first_row_norm')(
        prev['prev_msa_first_row']).astype(dtype)  # [N_res, c_m]
    pair_update += nn.LayerNorm(name='prev_pair_norm')(
        prev['prev_pair']).astype(dtype)  # [N_res, N_res, c_z]
  return msa_update, pair_update


def initial_recycling_state(num_res: int, msa_channel: int = 256, pair_channel: int = 128,
                            dtype=jnp.float32) -> dict:
  """Zeros for the first cycle, as AF2 starts recycling (prev_pos, prev_msa_first_row, prev_pair)."""
  return {
      'prev_pos': jnp.zeros((num_res, residue_constants.atom_type_num, 3), dtype),
      'prev_msa_first_row': jnp.zeros((num_res, msa_channel), dtype),
      'prev_pair': jnp.zeros((num_res, num_res, pair_channel), dtype),
  }


# ----------------------------------------------------------------------------------------
# Extra MSA (Suppl. Alg. 2 lines 14-15).
# ----------------------------------------------------------------------------------------
def create_extra_msa_feature(batch: Mapping[str, jnp.ndarray]) -> jnp.ndarray:
  """One-hot extra MSA (23 classes) ++ has_deletion ++ deletion_value -> [N_extra, N_res, 25].

  Done as late as possible (inside the model) because the one-hot extra MSA is large.
  """
  _require(batch, ('extra_msa', 'extra_has_deletion', 'extra_deletion_value'),
           'create_extra_msa_feature')
  one_hot = jax.nn.one_hot(batch['extra_msa'], _NUM_EXTRA_MSA_CLASSES)  # [N_extra, N_res, 23]
  return jnp.concatenate([
      one_hot,
      batch['extra_has_deletion'][..., None].astype(one_hot.dtype),
      batch['extra_deletion_value'][..., None].astype(one_hot.dtype),
  ], axis=-1)  # [N_extra, N_res, 25]


def embed_extra_msa(batch: Mapping[str, jnp.ndarray], config: ExtraMsaEmbedderConfig,
                    dtype=jnp.float32) -> jnp.ndarray:
  """Extra-MSA input embedding -> [N_extra, N_res, c_e]. Param: `extra_msa_activations`."""
  feats = create_extra_msa_feature(batch)  # [N_extra, N_res, 25]
  return nn.Linear(config.extra_msa_channel, name='extra_msa_activations')(feats).astype(dtype)


def _require(batch: Mapping[str, jnp.ndarray], keys, where: str) -> None:
  missing = [k for k in keys if k not in batch]
  if missing:
    raise ValueError(f'{where}: missing feature(s) {missing}; got {sorted(batch)}')
