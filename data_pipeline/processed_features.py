"""Processed features for the AF2 monomer model: the NumPy counterpart of AF2's input pipeline.

`process_features(raw, config, seed)` turns a raw feature dict (`make_raw_features`, optionally
with AF2 template features) into the dict `alphafold.model.features.np_example_to_features`
produces, with the same keys, dtypes and shapes, including the leading ensemble axis:

  E = num_ensemble * (num_recycle + 1) if resample_msa_in_recycling else num_ensemble
  S = max_msa_clusters (- max_templates if reduce_msa_clusters_by_max_templates)
  X = max_extra_msa, T = max_templates, L = num_res (sequence length or a larger fixed size)

  aatype, residue_index, seq_mask            [E, L]
  seq_length, is_distillation                [E]
  random_crop_to_size_seed                   [E, 2]
  target_feat                                [E, L, 22]
  msa_feat                                   [E, S, L, 49]
  msa_mask, bert_mask, true_msa              [E, S, L]
  msa_row_mask                               [E, S]
  extra_msa, extra_msa_mask, extra_has_deletion, extra_deletion_value   [E, X, L]
  extra_msa_row_mask                         [E, X]
  atom14_atom_exists, residx_atom14_to_atom37            [E, L, 14]
  atom37_atom_exists, residx_atom37_to_atom14            [E, L, 37]
  template_* (when use_templates)            [E, T, L, ...]

Per ensemble member (a fresh MSA sample per recycling iteration, as AF2 v2.3's eval config:
num_ensemble=1, resample_msa_in_recycling=True): cluster sampling, BERT masking, nearest-neighbour
cluster assignment + cluster profiles, extra-MSA crop, msa_feat, padding (Suppl. §1.2.7, §1.2.9).
Randomness: one `Sampler` (data_pipeline.sampling) seeded explicitly.
"""

import dataclasses
from typing import Dict, Mapping, Optional, Union

import numpy as np

from alphafold_jax.common import residue_constants as rc
from data_pipeline import msa_transforms as mt
from data_pipeline.errors import FeatureError
from data_pipeline.feature_schema import (NUM_EXTRA_SEQ, NUM_MSA_SEQ, NUM_RES, NUM_TEMPLATES,
                                          stack_padded)
from data_pipeline.sampling import Sampler, make_sampler

FeatureDict = Dict[str, np.ndarray]

_REQUIRED_RAW = ('aatype', 'residue_index', 'between_segment_residues', 'msa')
_TEMPLATE_RAW = ('template_aatype', 'template_all_atom_positions', 'template_all_atom_masks',
                 'template_sum_probs')


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
  """Input-pipeline settings (AF2 `config.data.common` + `config.data.eval`, monomer)."""
  max_msa_clusters: int = 512
  max_extra_msa: int = 1024
  max_templates: int = 4
  use_templates: bool = False
  reduce_msa_clusters_by_max_templates: bool = False
  msa_cluster_features: bool = True
  masked_msa_uniform_prob: float = 0.1
  masked_msa_profile_prob: float = 0.1
  masked_msa_same_prob: float = 0.1
  masked_msa_replace_fraction: float = 0.15
  num_recycle: int = 3
  resample_msa_in_recycling: bool = True
  num_ensemble: int = 1
  num_res: Optional[int] = None  # pad residues to this size (None: the sequence length)

  def __post_init__(self):
    probs = (self.masked_msa_uniform_prob, self.masked_msa_profile_prob, self.masked_msa_same_prob)
    if min(probs) < 0 or sum(probs) > 1 + 1e-9:
      raise ValueError(f'masked-MSA probabilities must be >= 0 and sum to <= 1, got {probs}.')
    if not 0 <= self.masked_msa_replace_fraction <= 1:
      raise ValueError('masked_msa_replace_fraction must be in [0, 1].')
    if self.num_msa_clusters < 1:
      raise ValueError(f'need at least one MSA cluster, got {self.num_msa_clusters}.')
    if min(self.max_extra_msa, self.max_templates, self.num_recycle) < 0 or self.num_ensemble < 1:
      raise ValueError('max_extra_msa, max_templates, num_recycle must be >= 0, num_ensemble >= 1.')

  @property
  def num_msa_clusters(self) -> int:
    """Cluster rows S (AF2 leaves room for templates in some models)."""
    if self.reduce_msa_clusters_by_max_templates:
      return self.max_msa_clusters - self.max_templates
    return self.max_msa_clusters

  def process(self, raw: Mapping[str, np.ndarray],
              seed: Union[int, np.random.Generator, 'Sampler'] = 0) -> 'FeatureDict':
    """`process_features(raw, self, seed)`: lets code that holds only a config (RunModel)
    run this pipeline without importing it."""
    return process_features(raw, self, seed)

  @property
  def num_ensemble_total(self) -> int:
    """Leading axis E of the processed features."""
    if self.resample_msa_in_recycling:
      return self.num_ensemble * (self.num_recycle + 1)
    return self.num_ensemble


def atom_index_features(aatype: np.ndarray) -> FeatureDict:
  """atom14/atom37 existence masks and index maps for residue types aatype [L] (X: all zero)."""
  return {
      'atom14_atom_exists': rc.restype_atom14_mask[aatype].astype(np.float32),  # [L, 14]
      'residx_atom14_to_atom37': rc.restype_atom14_to_atom37[aatype].astype(np.int32),  # [L, 14]
      'residx_atom37_to_atom14': rc.restype_atom37_to_atom14[aatype].astype(np.int32),  # [L, 37]
      'atom37_atom_exists': rc.restype_atom37_mask[aatype].astype(np.float32),  # [L, 37]
  }


def template_features(raw: Mapping[str, np.ndarray], num_res: int,
                      max_templates: int) -> FeatureDict:
  """AF2 template features: aatype in AF2 order, template_mask, pseudo-beta, top max_templates.

  Missing template keys give zero templates (padded to zeros later).
  """
  present = [k for k in _TEMPLATE_RAW if k in raw]
  if present and len(present) != len(_TEMPLATE_RAW):
    raise FeatureError(f'Template features incomplete: have {present}, need {list(_TEMPLATE_RAW)}.')
  if not present:
    raw = {'template_aatype': np.zeros((0, num_res, 22), np.float32),
           'template_all_atom_positions': np.zeros((0, num_res, 37, 3), np.float32),
           'template_all_atom_masks': np.zeros((0, num_res, 37), np.float32),
           'template_sum_probs': np.zeros((0, 1), np.float32)}
  hhblits_to_ours = np.asarray(rc.MAP_HHBLITS_AATYPE_TO_OUR_AATYPE, dtype=np.int32)
  aatype = hhblits_to_ours[np.argmax(raw['template_aatype'], axis=-1)]  # [T, L]
  positions = np.asarray(raw['template_all_atom_positions'], np.float32)  # [T, L, 37, 3]
  masks = np.asarray(raw['template_all_atom_masks'], np.float32)  # [T, L, 37]
  is_gly = (aatype == rc.restype_order['G'])  # [T, L]
  ca, cb = rc.atom_order['CA'], rc.atom_order['CB']
  features = {
      'template_aatype': aatype,
      'template_all_atom_positions': positions,
      'template_all_atom_masks': masks,
      # [T, 1]; AF2's hmmsearch placeholder template stores shape [1].
      'template_sum_probs': np.asarray(raw['template_sum_probs'], np.float32).reshape(-1, 1),
      'template_mask': np.ones(aatype.shape[:1], np.float32),  # [T]
      'template_pseudo_beta': np.where(is_gly[..., None], positions[..., ca, :],
                                       positions[..., cb, :]),  # [T, L, 3]
      'template_pseudo_beta_mask': np.where(is_gly, masks[..., ca], masks[..., cb]),  # [T, L]
  }
  return {k: v[:max_templates] for k, v in features.items()}


def _shared_features(raw: Mapping[str, np.ndarray], config: FeatureConfig,
                     sampler: Sampler) -> FeatureDict:
  """Features computed once and shared by every ensemble member (AF2's non-ensembled maps)."""
  missing = [k for k in _REQUIRED_RAW if k not in raw]
  if 'deletion_matrix_int' not in raw and 'deletion_matrix' not in raw:
    missing.append('deletion_matrix_int')
  if missing:
    raise FeatureError(f'Raw features are missing {missing}.')
  aatype = np.argmax(raw['aatype'], axis=-1).astype(np.int32)  # [L]
  num_res = aatype.shape[0]
  msa = mt.correct_msa_restypes(np.asarray(raw['msa'], np.int32))  # [N, L]
  deletions = raw.get('deletion_matrix_int', raw.get('deletion_matrix'))
  deletions = np.asarray(deletions).astype(np.float32)  # [N, L]
  if msa.ndim != 2 or msa.shape[1] != num_res or msa.shape[0] == 0 or deletions.shape != msa.shape:
    raise FeatureError(f'MSA shape {msa.shape} / deletion shape {deletions.shape} do not match '
                       f'{num_res} residues (need at least one row).')
  features = {
      'aatype': aatype,
      'residue_index': np.asarray(raw['residue_index'], np.int32),
      'between_segment_residues': np.asarray(raw['between_segment_residues'], np.int32),
      'seq_length': np.int32(num_res),
      'seq_mask': np.ones((num_res,), np.float32),
      'is_distillation': np.float32(0.),
      'msa': msa,
      'deletion_matrix': deletions,
      'msa_mask': np.ones(msa.shape, np.float32),
      'msa_row_mask': np.ones(msa.shape[:1], np.float32),
      'hhblits_profile': mt.hhblits_profile(msa),  # [L, 22], full MSA, before sampling
      'random_crop_to_size_seed': np.asarray(sampler.crop_seed(), np.int32),
  }
  if config.use_templates:
    features.update(template_features(raw, num_res, config.max_templates))
  features.update(atom_index_features(aatype))
  return features


def _ensemble_member(shared: FeatureDict, config: FeatureConfig, sampler: Sampler) -> FeatureDict:
  """One MSA sample: clusters, BERT mask, cluster profiles, extra-MSA crop, msa_feat."""
  features = mt.sample_msa(shared, config.num_msa_clusters, sampler)
  features = mt.make_masked_msa(
      features, shared['hhblits_profile'], config.masked_msa_uniform_prob,
      config.masked_msa_profile_prob, config.masked_msa_same_prob,
      config.masked_msa_replace_fraction, sampler)
  if config.msa_cluster_features:
    features = mt.summarize_clusters(features, mt.nearest_neighbor_clusters(features))
  if config.max_extra_msa:
    features = mt.crop_extra_msa(features, config.max_extra_msa, sampler)
  else:
    features = {k: v for k, v in features.items() if not k.startswith('extra_')}
  return mt.make_msa_feat(features)


def process_features(raw: Mapping[str, np.ndarray], config: FeatureConfig = FeatureConfig(),
                     seed: Union[int, np.random.Generator, Sampler] = 0) -> FeatureDict:
  """Raw AF2 features -> processed, fixed-size AF2 features with a leading ensemble axis.

  Args:
    raw: `make_raw_features` output (+ optional template_* raw features).
    config: FeatureConfig (AF2 presets: `alphafold_jax.config.model_config(name).data`).
    seed: int, numpy Generator, or a `Sampler`; the same seed gives the same features.
  """
  sampler = make_sampler(seed)
  shared = _shared_features(raw, config, sampler)
  num_res = shared['aatype'].shape[0]
  if config.num_res is not None and config.num_res < num_res:
    raise FeatureError(f'config.num_res={config.num_res} is smaller than the sequence length '
                       f'{num_res}; crop first (data_pipeline.transforms).')
  sizes = {NUM_RES: config.num_res or num_res, NUM_MSA_SEQ: config.num_msa_clusters,
           NUM_EXTRA_SEQ: config.max_extra_msa, NUM_TEMPLATES: config.max_templates}
  members = [_ensemble_member(shared, config, sampler)
             for _ in range(config.num_ensemble_total)]
  return stack_padded(members, sizes)
