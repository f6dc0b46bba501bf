"""In-model MSA sampling and masking of AlphaFold-Multimer (v2.3), pure jnp functions.

AF2-Multimer moves the monomer pipeline's per-recycle MSA steps (Jumper et al. 2021, Suppl.
1.2.5-1.2.7: cluster sampling, BERT masking, cluster profiles, extra-MSA features) into the
network, so each recycle draws a fresh sample inside the one compiled call (Evans et al. 2021,
Methods). Random numbers are "padding consistent": each element draws from its own key folded
in from its index, so padding an axis does not change the numbers of the real entries.

Shapes: M = merged MSA rows, S = sampled cluster centres (num_msa), X = M - S extra rows,
N = residues. Batch keys (AF2-Multimer features, `data_pipeline.multimer`): msa [M, N] int,
deletion_matrix [M, N], msa_mask [M, N], bert_mask [M, N], cluster_bias_mask [M].
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence, Tuple

import jax
import jax.numpy as jnp

Batch = Mapping[str, jnp.ndarray]
NUM_MSA_CLASSES = 23  # 20 amino acids, X, gap, BERT mask token


@dataclasses.dataclass(frozen=True)
class MaskedMsaConfig:
  """BERT-style masking (Suppl. 1.2.7): replace_fraction of positions are replaced by a
  uniform residue, the profile, the same residue, or the mask token (remaining probability)."""
  profile_prob: float = 0.1
  same_prob: float = 0.1
  uniform_prob: float = 0.1
  replace_fraction: float = 0.15


def _grid_keys(key: jnp.ndarray, shape: Sequence[int]) -> jnp.ndarray:
  """One key per element of `shape`: key folded in with each index, axis by axis."""
  if not shape:
    return key
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(shape[0]))
  return jax.vmap(lambda k: _grid_keys(k, shape[1:]))(keys)


def padding_consistent_uniform(key: jnp.ndarray, shape: Sequence[int]) -> jnp.ndarray:
  """Uniform [0, 1) float32 of `shape`; entry [i, j, ...] does not depend on the sizes."""
  keys = _grid_keys(key, tuple(shape))  # [*shape, 2]
  draw = lambda k: jax.random.uniform(k, (), jnp.float32, 0.0, 1.0)
  return jnp.vectorize(draw, signature='(2)->()')(keys)


def gumbel_noise(key: jnp.ndarray, shape: Sequence[int]) -> jnp.ndarray:
  """Gumbel(0, 1) samples, padding consistent."""
  eps = 1e-6
  u = padding_consistent_uniform(key, shape)
  return -jnp.log(-jnp.log(u + eps) + eps)


def gumbel_permutation(key: jnp.ndarray, logits: jnp.ndarray) -> jnp.ndarray:
  """A random order of the last axis, sampled without replacement with probabilities
  softmax(logits) (Gumbel top-k): indices by decreasing logits + Gumbel noise. [K] int."""
  perturbed = logits + gumbel_noise(key, logits.shape)
  iota = jax.lax.broadcasted_iota(jnp.int32, logits.shape, logits.ndim - 1)
  _, ascending = jax.lax.sort_key_val(perturbed, iota, dimension=-1, is_stable=False)
  return ascending[::-1]


def msa_profile(msa: jnp.ndarray, msa_mask: jnp.ndarray) -> jnp.ndarray:
  """Masked residue-type frequencies over the MSA: [M, N] -> [N, 22]."""
  one_hot = jax.nn.one_hot(msa, 22)  # [M, N, 22]
  mask = msa_mask[:, :, None]  # [M, N, 1]
  return jnp.sum(mask * one_hot, axis=0) / (jnp.sum(mask, axis=0) + 1e-10)


def sample_msa(key: jnp.ndarray, batch: Batch, num_msa: int) -> dict:
  """Cluster centres: num_msa rows drawn without replacement among rows with any unmasked
  residue, rows with cluster_bias_mask (each chain's query) always first; the rest become
  extra_msa / extra_deletion_matrix / extra_msa_mask / extra_bert_mask (Suppl. 1.2.5)."""
  batch = dict(batch)
  num_rows = batch['msa'].shape[0]
  logits = (jnp.clip(jnp.sum(batch['msa_mask'], axis=-1), 0.0, 1.0) - 1.0) * 1e6  # [M]
  bias = batch.get('cluster_bias_mask')
  if bias is None:
    bias = jnp.zeros((num_rows,)).at[0].set(1.0)
  order = gumbel_permutation(key, logits + bias * 1e6)  # [M]
  chosen, rest = order[:num_msa], order[num_msa:]
  for name in ('msa', 'deletion_matrix', 'msa_mask', 'bert_mask'):
    if name in batch:
      batch['extra_' + name] = batch[name][rest]  # [X, N]
      batch[name] = batch[name][chosen]  # [S, N]
  return batch


def make_masked_msa(key: jnp.ndarray, batch: Batch, config: MaskedMsaConfig) -> dict:
  """BERT masking of the sampled MSA (Suppl. 1.2.7). Needs batch['msa_profile'] [N, 22].

  Adds true_msa; msa becomes the corrupted MSA; bert_mask is multiplied by the positions
  chosen for replacement (the loss only scores those).
  """
  batch = dict(batch)
  c = config
  uniform_aa = jnp.array([0.05] * 20 + [0.0, 0.0], jnp.float32)  # [22]
  probs = (c.uniform_prob * uniform_aa + c.profile_prob * batch['msa_profile']
           + c.same_prob * jax.nn.one_hot(batch['msa'], 22))  # [S, N, 22]
  mask_token_prob = 1.0 - c.profile_prob - c.same_prob - c.uniform_prob
  probs = jnp.pad(probs, [(0, 0)] * (probs.ndim - 1) + [(0, 1)],
                  constant_values=mask_token_prob)  # [S, N, 23]
  _, position_key, sample_key = jax.random.split(key, 3)
  replace = padding_consistent_uniform(position_key, batch['msa'].shape) < c.replace_fraction
  replace = replace * batch['msa_mask']  # [S, N]
  logits = jnp.log(probs + 1e-6)
  sampled = jnp.argmax(logits + gumbel_noise(sample_key, logits.shape), axis=-1)  # [S, N]
  corrupted = jnp.where(replace, sampled, batch['msa']) * batch['msa_mask']
  replace = replace.astype(jnp.float32)
  batch['bert_mask'] = batch['bert_mask'] * replace if 'bert_mask' in batch else replace
  batch['true_msa'] = batch['msa']
  batch['msa'] = corrupted
  return batch


def nearest_neighbor_clusters(batch: Batch, gap_agreement_weight: float = 0.0
                              ) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Cluster profile [S, N, 23] and cluster deletion mean [S, N] (Suppl. 1.2.6): each extra
  row joins the centre it agrees with most (a soft assignment with temperature 1e-3; the mask
  token never counts, gaps count gap_agreement_weight)."""
  weights = jnp.array([1.0] * 21 + [gap_agreement_weight] + [0.0], jnp.float32)  # [23]
  msa_mask, extra_mask = batch['msa_mask'], batch['extra_msa_mask']  # [S, N], [X, N]
  msa_1h = msa_mask[:, :, None] * jax.nn.one_hot(batch['msa'], NUM_MSA_CLASSES)
  extra_1h = extra_mask[:, :, None] * jax.nn.one_hot(batch['extra_msa'], NUM_MSA_CLASSES)
  agreement = jnp.einsum('mrc,nrc->nm', extra_1h, weights * msa_1h)  # [S, X]
  assignment = jax.nn.softmax(1e3 * agreement, axis=0)  # over centres
  assignment *= jnp.einsum('mr,nr->mn', msa_mask, extra_mask)  # [S, X]
  count = jnp.sum(assignment, axis=-1) + 1.0  # [S] (+ the centre itself)
  profile = jnp.einsum('nm,mrc->nrc', assignment, extra_1h) + msa_1h  # [S, N, 23]
  deletions = jnp.einsum('nm,mc->nc', assignment,
                         extra_mask * batch['extra_deletion_matrix'])  # [S, N]
  deletions += batch['deletion_matrix']
  return profile / count[:, None, None], deletions / count[:, None]


def _deletion_value(d: jnp.ndarray) -> jnp.ndarray:
  return (jnp.arctan(d / 3.0) * (2.0 / jnp.pi))[..., None]


def msa_features(batch: Batch) -> jnp.ndarray:
  """msa_feat [S, N, 49]: one-hot (23), has_deletion, deletion value, cluster profile (23),
  cluster deletion mean (Suppl. Table 1; the centre's own values without clustering)."""
  one_hot = jax.nn.one_hot(batch['msa'], NUM_MSA_CLASSES)
  deletion = batch['deletion_matrix']
  return jnp.concatenate([
      one_hot, jnp.clip(deletion, 0.0, 1.0)[..., None], _deletion_value(deletion),
      batch.get('cluster_profile', one_hot),
      _deletion_value(batch.get('cluster_deletion_mean', deletion))], axis=-1)


def extra_msa_features(batch: Batch, num_extra_msa: int) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """First num_extra_msa extra rows: features [X', N, 25] and mask [X', N]."""
  extra = batch['extra_msa'][:num_extra_msa]
  deletion = batch['extra_deletion_matrix'][:num_extra_msa]
  feats = jnp.concatenate([jax.nn.one_hot(extra, NUM_MSA_CLASSES),
                           jnp.clip(deletion, 0.0, 1.0)[..., None], _deletion_value(deletion)],
                          axis=-1)
  return feats, batch['extra_msa_mask'][:num_extra_msa]


def sample_recycle_msa(batch: Batch, sample_key: jnp.ndarray, mask_key: jnp.ndarray,
                       num_msa: int, masked_msa: MaskedMsaConfig,
                       use_cluster_profile: bool = True) -> dict:
  """One recycle's MSA: profile of the full MSA, cluster sampling, BERT masking, profiles."""
  batch = dict(batch)
  batch['msa_profile'] = msa_profile(batch['msa'], batch['msa_mask'])
  batch = sample_msa(sample_key, batch, num_msa)
  batch = make_masked_msa(mask_key, batch, masked_msa)
  if use_cluster_profile:
    batch['cluster_profile'], batch['cluster_deletion_mean'] = nearest_neighbor_clusters(batch)
  return batch
