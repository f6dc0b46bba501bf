"""MSA transforms of the AF2 input pipeline in NumPy (Jumper et al. 2021, Suppl. §1.2.7).

Shapes: N = MSA rows, S = sampled cluster centres, E = extra (unsampled) rows, L = residues.
Token alphabet after `correct_msa_restypes`: 0..19 amino acids (AF2 order), 20 = X, 21 = gap,
22 = BERT mask token.

All randomness comes from a `data_pipeline.sampling.Sampler`; everything else is deterministic
and equal to the oracle's `alphafold.model.tf.data_transforms` arithmetic in float32.
"""

from typing import Dict

import numpy as np

from alphafold_jax.common import residue_constants as rc

FeatureDict = Dict[str, np.ndarray]

NUM_MSA_TOKENS = 23  # 20 aa + X + gap + mask
MASK_TOKEN = 22
# Row-indexed MSA features that MSA sampling / cropping must move together.
MSA_ROW_KEYS = ('msa', 'deletion_matrix', 'msa_mask', 'msa_row_mask', 'bert_mask', 'true_msa')


def correct_msa_restypes(msa: np.ndarray) -> np.ndarray:
  """HHblits ids (HHBLITS_AA_TO_ID) -> AF2 residue order, same shape."""
  new_order = np.asarray(rc.MAP_HHBLITS_AATYPE_TO_OUR_AATYPE, dtype=np.int32)  # [22]
  return new_order[msa]


def one_hot(indices: np.ndarray, depth: int, out: np.ndarray = None) -> np.ndarray:
  """float32 one-hot [..., depth] (written into `out` [..., depth] if given, which must be 0)."""
  indices = np.asarray(indices)
  if out is None:
    out = np.zeros(indices.shape + (depth,), dtype=np.float32)
  out[np.indices(indices.shape, sparse=True) + (indices,)] = 1.  # works on strided views
  return out


def hhblits_profile(msa: np.ndarray) -> np.ndarray:
  """Per-column residue frequencies of the full MSA: [N, L] -> [L, 22] float32."""
  num_seq, num_res = msa.shape
  flat = (np.arange(num_res)[None, :] * 22 + msa).ravel()  # [N*L] index into [L, 22]
  counts = np.bincount(flat, minlength=num_res * 22).reshape(num_res, 22)  # [L, 22]
  return counts.astype(np.float32) / np.float32(num_seq)


def sample_msa(features: FeatureDict, max_seq: int, sampler) -> FeatureDict:
  """Keeps the query + (max_seq - 1) random rows as cluster centres; the rest become `extra_*`.

  Suppl. §1.2.7 "MSA clustering": the cluster centres are a random subset of the MSA (query
  always first).
  """
  out = dict(features)
  num_seq = features['msa'].shape[0]
  order = np.concatenate([[0], sampler.permutation(np.arange(1, num_seq))]).astype(np.int64)
  num_sel = min(max_seq, num_seq)
  selected, rest = order[:num_sel], order[num_sel:]
  for key in MSA_ROW_KEYS:
    if key in features:
      out['extra_' + key] = features[key][rest]
      out[key] = features[key][selected]
  return out


def make_masked_msa(features: FeatureDict, profile: np.ndarray, uniform_prob: float,
                    profile_prob: float, same_prob: float, replace_fraction: float,
                    sampler) -> FeatureDict:
  """BERT-style corruption of the cluster MSA (Suppl. §1.2.7, masked MSA prediction).

  Each position is selected with probability `replace_fraction`; a selected position becomes a
  uniformly random amino acid (uniform_prob), a token drawn from the MSA profile (profile_prob),
  the original token (same_prob), or the mask token 22 (the remaining probability).
  Adds `bert_mask` [S, L] float32 and `true_msa` [S, L]; `msa` becomes the corrupted MSA.
  The sampler draws `uniform([S, L])` for the positions, then `categorical(probs [M, 23])` for the
  M selected positions in row-major order.
  """
  msa = features['msa']  # [S, L]
  mask_prob = 1. - profile_prob - same_prob - uniform_prob
  if mask_prob < -1e-6:
    raise ValueError('masked-MSA probabilities uniform + profile + same must be <= 1.')
  position = sampler.uniform(msa.shape) < replace_fraction  # [S, L]
  rows, cols = np.nonzero(position)  # [M] each
  # Replacement distribution at the selected positions only.
  uniform_aa = np.array([0.05] * 20 + [0., 0.], dtype=np.float32)  # [22]
  probs = np.empty((rows.size, NUM_MSA_TOKENS), dtype=np.float32)  # [M, 23]
  probs[:, :22] = (np.float32(uniform_prob) * uniform_aa
                   + np.float32(profile_prob) * profile[cols]
                   + np.float32(same_prob) * one_hot(msa[rows, cols], 22))
  probs[:, MASK_TOKEN] = max(mask_prob, 0.)
  replacement = sampler.categorical(probs)  # [M]
  bert_msa = msa.copy()
  bert_msa[rows, cols] = replacement
  out = dict(features)
  out['bert_mask'] = position.astype(np.float32)
  out['true_msa'] = msa
  out['msa'] = bert_msa
  return out


def _masked_one_hot21(msa: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """[R, L] tokens -> [R, L*21] float32: one-hot over aa + X only (gap / mask weigh 0)."""
  rows, num_res = msa.shape
  hot = np.zeros((rows * num_res, 22), dtype=np.float32)  # column 21 collects gap/mask/masked-out
  token = np.where((msa < 21) & (mask > 0), msa, 21).ravel()
  hot[np.arange(rows * num_res), token] = 1.
  return hot[:, :21].reshape(rows, num_res * 21)  # [R, L*21]


def nearest_neighbor_clusters(features: FeatureDict) -> np.ndarray:
  """Assigns every extra row to the cluster centre it agrees with at most residues.

  Agreement = number of columns with the same amino acid (or X); gaps and mask tokens do not count
  (AF2's gap_agreement_weight = 0). Ties go to the lowest centre index. Returns [E] int32.
  DISCREPANCY: the paper assigns by Hamming distance; DeepMind's code maximises agreement over
  non-gap, non-masked, unpadded positions, which is what we do.
  """
  extra = features['extra_msa']
  if extra.shape[0] == 0:
    return np.zeros([0], dtype=np.int32)
  centres = _masked_one_hot21(features['msa'], features['msa_mask'])  # [S, L*21]
  others = _masked_one_hot21(extra, features['extra_msa_mask'])  # [E, L*21]
  agreement = others @ centres.T  # [E, S]
  return np.argmax(agreement, axis=1).astype(np.int32)


def summarize_clusters(features: FeatureDict, assignment: np.ndarray) -> FeatureDict:
  """Cluster profiles and mean deletions over each centre and its assigned extra rows.

  Adds cluster_profile [S, L, 23] and cluster_deletion_mean [S, L] (float32).
  """
  msa = features['msa']  # [S, L]
  num_seq, num_res = msa.shape
  extra, extra_mask = features['extra_msa'], features['extra_msa_mask']  # [E, L]
  cell = assignment[:, None] * num_res + np.arange(num_res)[None, :]  # [E, L] index into [S, L]
  counts = np.bincount(cell.ravel(), weights=extra_mask.ravel(),
                       minlength=num_seq * num_res).reshape(num_seq, num_res)  # [S, L]
  token_sums = np.bincount((cell * NUM_MSA_TOKENS + extra).ravel(), weights=extra_mask.ravel(),
                           minlength=num_seq * num_res * NUM_MSA_TOKENS)
  token_sums = token_sums.reshape(num_seq, num_res, NUM_MSA_TOKENS)  # [S, L, 23]
  deletion_sums = np.bincount(
      cell.ravel(), weights=(extra_mask * features['extra_deletion_matrix']).ravel(),
      minlength=num_seq * num_res).reshape(num_seq, num_res)  # [S, L]
  # Sums of 0/1 masks and integer deletions are exact in float32; the order of the float32
  # additions below follows the oracle so results are bitwise equal.
  msa_sum = token_sums.astype(np.float32) + one_hot(msa, NUM_MSA_TOKENS)  # [S, L, 23]
  deletion_sum = deletion_sums.astype(np.float32) + features['deletion_matrix']  # [S, L]
  mask_counts = (np.float32(1e-6) + features['msa_mask']) + counts.astype(np.float32)  # [S, L]
  out = dict(features)
  out['cluster_profile'] = msa_sum / mask_counts[:, :, None]
  out['cluster_deletion_mean'] = deletion_sum / mask_counts
  return out


def crop_extra_msa(features: FeatureDict, max_extra_msa: int, sampler) -> FeatureDict:
  """Keeps a random subset of at most `max_extra_msa` extra rows (after clustering)."""
  out = dict(features)
  num_extra = features['extra_msa'].shape[0]
  keep = sampler.permutation(np.arange(num_extra))[:min(max_extra_msa, num_extra)]
  for key in MSA_ROW_KEYS:
    if 'extra_' + key in features:
      out['extra_' + key] = features['extra_' + key][keep.astype(np.int64)]
  return out


def deletion_transform(deletions: np.ndarray) -> np.ndarray:
  """AF2's squashing of deletion counts: 2/pi * arctan(d / 3) (float32)."""
  return np.arctan(deletions / np.float32(3.)) * np.float32(2. / np.pi)


def make_msa_feat(features: FeatureDict) -> FeatureDict:
  """target_feat [L, 22], msa_feat [S, L, 49] (25 without clusters), extra deletion features.

  Suppl. §1.2.9 / Table 1: msa_feat = cluster_msa one-hot (23), cluster_has_deletion (1),
  cluster_deletion_value (1), cluster_profile (23), cluster_deletion_mean (1).
  DISCREPANCY: the paper's target_feat has 21 channels; DeepMind's code prepends a
  between-segment (domain break) flag, giving 22.
  """
  out = dict(features)
  num_res = features['aatype'].shape[0]
  target_feat = np.zeros((num_res, 22), dtype=np.float32)  # [L, 22]
  target_feat[:, 0] = np.clip(features['between_segment_residues'].astype(np.float32), 0., 1.)
  one_hot(features['aatype'], 21, out=target_feat[:, 1:])
  out['target_feat'] = target_feat
  deletions = features['deletion_matrix']  # [S, L]
  has_clusters = 'cluster_profile' in features
  msa_feat = np.zeros(deletions.shape + (49 if has_clusters else 25,), np.float32)  # [S, L, 49]
  one_hot(features['msa'], NUM_MSA_TOKENS, out=msa_feat[..., :23])  # cluster_msa
  msa_feat[..., 23] = np.clip(deletions, 0., 1.)  # cluster_has_deletion
  msa_feat[..., 24] = deletion_transform(deletions)  # cluster_deletion_value
  if has_clusters:
    msa_feat[..., 25:48] = features['cluster_profile']
    msa_feat[..., 48] = deletion_transform(features['cluster_deletion_mean'])
  out['msa_feat'] = msa_feat
  if 'extra_deletion_matrix' in features:
    out['extra_has_deletion'] = np.clip(features['extra_deletion_matrix'], 0., 1.)
    out['extra_deletion_value'] = deletion_transform(features['extra_deletion_matrix'])
  return out
