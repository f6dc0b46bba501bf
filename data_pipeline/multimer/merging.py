"""Cropping and merging the chains of a complex into one AF2-Multimer example (NumPy).

Semantics of AF2 v2.3 `feature_processing.pair_and_merge` + `msa_pairing.merge_chain_features`:

1. Heteromers only: pair the `*_all_seq` MSAs by species (pairing.py) and drop unpaired rows
   that duplicate a paired row.
2. Crop each chain's MSA: at most msa_crop_size // 2 paired rows; the unpaired rows are cut so
   that paired rows with any residue plus unpaired rows stay within msa_crop_size; templates to
   max_templates.
3. Pad templates to max_templates; merge chains of one entity (homomer copies) densely (MSAs
   side by side, rows aligned); then merge the entities: unpaired MSAs block-diagonally (gap
   off the diagonal), paired MSAs side by side, stacked paired-above-unpaired.
4. cluster_bias_mask (rows always chosen as cluster centres: the query row(s)), bert_mask
   (1 where a row has real sequence of that chain), msa in our residue order, seq_mask,
   msa_mask; only the model's features are kept. Finally the MSA is padded to >= 512 rows.

Shapes: L = total residues, M = merged MSA rows, T = max_templates.
"""

from __future__ import annotations

import collections
from typing import Dict, List, Mapping, Sequence

import numpy as np

from alphafold_jax.common import residue_constants as rc
from data_pipeline.multimer import pairing

FeatureDict = Dict[str, np.ndarray]

MAX_TEMPLATES = 4
MSA_CROP_SIZE = 2048
MIN_MSA_ROWS = 512  # AF2 pads the merged MSA so that the extra MSA is never empty

SEQ_FEATURES = ('residue_index', 'aatype', 'all_atom_positions', 'all_atom_mask', 'seq_mask',
                'between_segment_residues', 'has_alt_locations', 'has_hetatoms', 'asym_id',
                'entity_id', 'sym_id', 'entity_mask', 'deletion_mean', 'prediction_atom_mask',
                'literature_positions', 'atom_indices_to_group_indices',
                'rigid_group_default_frame')
TEMPLATE_FEATURES = ('template_aatype', 'template_all_atom_positions', 'template_all_atom_mask')
CHAIN_FEATURES = ('num_alignments', 'seq_length')
MODEL_FEATURES = frozenset({
    'aatype', 'all_atom_mask', 'all_atom_positions', 'all_chains_entity_ids',
    'all_crops_all_chains_mask', 'all_crops_all_chains_positions',
    'all_crops_all_chains_residue_ids', 'assembly_num_chains', 'asym_id', 'bert_mask',
    'cluster_bias_mask', 'deletion_matrix', 'deletion_mean', 'entity_id', 'entity_mask',
    'mem_peak', 'msa', 'msa_mask', 'num_alignments', 'num_templates', 'queue_size',
    'residue_index', 'resolution', 'seq_length', 'seq_mask', 'sym_id', 'template_aatype',
    'template_all_atom_mask', 'template_all_atom_positions'})


def _base(name: str) -> str:
  return name.split('_all_seq')[0]


def crop_chain(chain: FeatureDict, msa_crop_size: int, paired: bool,
               max_templates: int) -> FeatureDict:
  """Step 2 of the module docstring for one chain."""
  chain = dict(chain)
  num_unpaired = int(chain['num_alignments'])
  if paired:
    crop_paired = min(int(chain['num_alignments_all_seq']), msa_crop_size // 2)
    msa_all_seq = chain['msa_all_seq'][:crop_paired]
    non_gap_pairs = int(np.sum(np.any(msa_all_seq != pairing.GAP_ID, axis=1)))
    crop_unpaired = min(num_unpaired, max(msa_crop_size - min(non_gap_pairs, crop_paired), 0))
  else:
    crop_unpaired = min(num_unpaired, msa_crop_size)
  with_templates = 'template_aatype' in chain and max_templates
  if with_templates:
    crop_templates = min(chain['template_aatype'].shape[0], max_templates)
  for name in list(chain):
    if _base(name) in TEMPLATE_FEATURES:
      chain[name] = chain[name][:crop_templates]
    elif _base(name) in pairing.MSA_FEATURES:
      is_paired_feature = name.endswith('_all_seq') and paired
      chain[name] = chain[name][:crop_paired if is_paired_feature else crop_unpaired]
  chain['num_alignments'] = np.asarray(crop_unpaired, np.int32)
  if with_templates:
    chain['num_templates'] = np.asarray(crop_templates, np.int32)
  if paired:
    chain['num_alignments_all_seq'] = np.asarray(crop_paired, np.int32)
  return chain


def block_diagonal(blocks: Sequence[np.ndarray], pad_value: float) -> np.ndarray:
  """2-D blocks on the diagonal, `pad_value` elsewhere: [sum rows, sum cols] (first dtype)."""
  rows = sum(b.shape[0] for b in blocks)
  cols = sum(b.shape[1] for b in blocks)
  dtype = np.result_type(*[b.dtype for b in blocks])
  out = np.full((rows, cols), pad_value, dtype=dtype)
  r = c = 0
  for b in blocks:
    out[r:r + b.shape[0], c:c + b.shape[1]] = b
    r, c = r + b.shape[0], c + b.shape[1]
  return out


def _pad_templates(chain: FeatureDict, max_templates: int) -> FeatureDict:
  chain = dict(chain)
  for name in TEMPLATE_FEATURES:
    if name in chain:
      v = chain[name]
      chain[name] = np.pad(v, [(0, max_templates - v.shape[0])] + [(0, 0)] * (v.ndim - 1))
  return chain


def _merge(chains: Sequence[FeatureDict], dense_msa: bool) -> FeatureDict:
  """Merge chains: residue features concatenated; MSAs side by side (dense_msa or `_all_seq`)
  or block-diagonal; templates side by side; counts summed; anything else from the first."""
  merged = {}
  for name in chains[0]:
    feats = [c[name] for c in chains]
    base = _base(name)
    if base in pairing.MSA_FEATURES:
      if dense_msa or name.endswith('_all_seq'):
        merged[name] = np.concatenate(feats, axis=1)
      else:
        merged[name] = block_diagonal(feats, pairing.MSA_PAD_VALUES[name])
    elif base in SEQ_FEATURES:
      merged[name] = np.concatenate(feats, axis=0)
    elif base in TEMPLATE_FEATURES:
      merged[name] = np.concatenate(feats, axis=1)
    elif base in CHAIN_FEATURES:
      merged[name] = np.sum(feats).astype(np.int32)
    else:
      merged[name] = feats[0]
  return merged


def merge_chain_features(chains: Sequence[FeatureDict], paired: bool,
                         max_templates: int) -> FeatureDict:
  """Step 3-4 (before the final clean-up) of the module docstring."""
  chains = [_pad_templates(c, max_templates) for c in chains]
  by_entity: Dict[float, List[FeatureDict]] = collections.defaultdict(list)
  for c in chains:
    by_entity[c['entity_id'][0]].append(c)
  entities = [_merge(by_entity[e], dense_msa=True) for e in sorted(by_entity)]
  example = _merge(entities, dense_msa=False)
  if paired:
    for name in pairing.MSA_FEATURES:
      if name in example:
        example[name] = np.concatenate([example[name + '_all_seq'], example[name]], axis=0)
  example['seq_length'] = np.asarray(example['aatype'].shape[0], np.int32)
  example['num_alignments'] = np.asarray(example['msa'].shape[0], np.int32)
  unpaired_ones = [np.ones(e['msa'].shape, np.float32) for e in entities]
  example['cluster_bias_mask'] = np.zeros(example['msa'].shape[0])  # [M]
  if paired:
    example['cluster_bias_mask'][0] = 1
    paired_ones = np.concatenate([np.ones(e['msa_all_seq'].shape, np.float32)
                                  for e in entities], axis=1)
    example['bert_mask'] = np.concatenate(
        [paired_ones, block_diagonal(unpaired_ones, 0)], axis=0)  # [M, L]
  else:  # each entity's query row is a cluster centre
    example['cluster_bias_mask'] = np.concatenate(
        [np.eye(1, e['msa'].shape[0])[0] for e in entities])
    example['bert_mask'] = block_diagonal(unpaired_ones, 0)
  return example


def process_final(example: FeatureDict) -> FeatureDict:
  """MSA ids HHblits -> our residue order, seq_mask / msa_mask, model features only."""
  example = dict(example)
  order = np.asarray(rc.MAP_HHBLITS_AATYPE_TO_OUR_AATYPE)
  example['msa'] = np.take(order, example['msa'], axis=0).astype(np.int32)
  seq_mask = (example['entity_id'] > 0).astype(np.float32)  # [L]
  example['seq_mask'] = seq_mask
  example['msa_mask'] = np.ones_like(example['msa'], dtype=np.float32) * seq_mask[None]
  return {k: v for k, v in example.items() if k in MODEL_FEATURES}


def is_homomer_or_monomer(chains: Sequence[FeatureDict]) -> bool:
  entities = np.unique(np.concatenate([np.unique(c['entity_id'][c['entity_id'] > 0])
                                       for c in chains]))
  return len(entities) == 1


def pair_and_merge(chains: Mapping[str, FeatureDict], msa_crop_size: int = MSA_CROP_SIZE,
                   max_templates: int = MAX_TEMPLATES) -> FeatureDict:
  """Chains (after `features.process_unmerged_features`) -> one example (steps 1-4)."""
  chains = list(chains.values())
  paired = not is_homomer_or_monomer(chains)
  if paired:
    chains = pairing.deduplicate_unpaired_sequences(pairing.create_paired_features(chains))
  chains = [crop_chain(c, msa_crop_size, paired, max_templates) for c in chains]
  return process_final(merge_chain_features(chains, paired, max_templates))


def pad_msa(example: FeatureDict, min_num_seq: int = MIN_MSA_ROWS) -> FeatureDict:
  """Zero rows appended to the MSA features up to `min_num_seq` rows."""
  example = dict(example)
  extra = min_num_seq - example['msa'].shape[0]
  if extra > 0:
    for name in ('msa', 'deletion_matrix', 'bert_mask', 'msa_mask'):
      example[name] = np.pad(example[name], ((0, extra), (0, 0)))
    example['cluster_bias_mask'] = np.pad(example['cluster_bias_mask'], ((0, extra),))
  return example
