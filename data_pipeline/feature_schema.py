"""Shape schema of AF2's processed monomer features and fixed-size padding.

Each processed key (per ensemble member, before the ensemble axis is stacked) has a schema: a
tuple whose entries are one of the placeholders below (padded to a configured size) or None
(kept as is). Same keys and placeholders as AF2's `config.data.eval.feat` for the features
the monomer model consumes.
"""

from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from data_pipeline.errors import FeatureError

NUM_RES = 'num residues placeholder'
NUM_MSA_SEQ = 'msa placeholder'
NUM_EXTRA_SEQ = 'extra msa placeholder'
NUM_TEMPLATES = 'num templates placeholder'

FEATURE_SCHEMA: Mapping[str, Tuple[Optional[str], ...]] = {
    'aatype': (NUM_RES,),
    'residue_index': (NUM_RES,),
    'seq_length': (),
    'seq_mask': (NUM_RES,),
    'is_distillation': (),
    'random_crop_to_size_seed': (None,),
    'target_feat': (NUM_RES, None),
    'msa_feat': (NUM_MSA_SEQ, NUM_RES, None),
    'msa_mask': (NUM_MSA_SEQ, NUM_RES),
    'msa_row_mask': (NUM_MSA_SEQ,),
    'bert_mask': (NUM_MSA_SEQ, NUM_RES),
    'true_msa': (NUM_MSA_SEQ, NUM_RES),
    'extra_msa': (NUM_EXTRA_SEQ, NUM_RES),
    'extra_msa_mask': (NUM_EXTRA_SEQ, NUM_RES),
    'extra_msa_row_mask': (NUM_EXTRA_SEQ,),
    'extra_has_deletion': (NUM_EXTRA_SEQ, NUM_RES),
    'extra_deletion_value': (NUM_EXTRA_SEQ, NUM_RES),
    'atom14_atom_exists': (NUM_RES, None),
    'atom37_atom_exists': (NUM_RES, None),
    'residx_atom14_to_atom37': (NUM_RES, None),
    'residx_atom37_to_atom14': (NUM_RES, None),
    'template_aatype': (NUM_TEMPLATES, NUM_RES),
    'template_all_atom_masks': (NUM_TEMPLATES, NUM_RES, None),
    'template_all_atom_positions': (NUM_TEMPLATES, NUM_RES, None, None),
    'template_mask': (NUM_TEMPLATES,),
    'template_pseudo_beta': (NUM_TEMPLATES, NUM_RES, None),
    'template_pseudo_beta_mask': (NUM_TEMPLATES, NUM_RES),
    'template_sum_probs': (NUM_TEMPLATES, None),
}


def padded_shape(key: str, shape: Tuple[int, ...], sizes: Mapping[str, int]) -> Tuple[int, ...]:
  """The fixed shape of feature `key` (schema placeholders replaced by `sizes`).

  Raises FeatureError when the array has the wrong rank or exceeds its fixed size.
  """
  schema = FEATURE_SCHEMA[key]
  if len(shape) != len(schema):
    raise FeatureError(f'Feature {key!r} has shape {tuple(shape)}; schema rank is {len(schema)}.')
  fixed = []
  for axis, (dim, placeholder) in enumerate(zip(shape, schema)):
    target = sizes.get(placeholder, dim) if placeholder is not None else dim
    if target < dim:
      raise FeatureError(f'Feature {key!r} axis {axis} has size {dim} > fixed size {target}.')
    fixed.append(target)
  return tuple(fixed)


def pad_to_fixed_size(features: Mapping[str, np.ndarray],
                      sizes: Mapping[str, int]) -> Dict[str, np.ndarray]:
  """Zero-pads every schema dimension to `sizes[placeholder]` (missing placeholder: unchanged).

  Keys not in FEATURE_SCHEMA are dropped.
  """
  return stack_padded([features], sizes, stack=False)


def stack_padded(members: Sequence[Mapping[str, np.ndarray]], sizes: Mapping[str, int],
                 stack: bool = True) -> Dict[str, np.ndarray]:
  """Pads each member's schema features to fixed size and stacks them on a new leading axis.

  One zero-filled output array per key is filled in place (no intermediate padded copies).
  Keys not in FEATURE_SCHEMA are dropped; every member must have the same keys.
  """
  out = {}
  for key, first in members[0].items():
    if key not in FEATURE_SCHEMA:
      continue
    first = np.asarray(first)
    fixed = padded_shape(key, first.shape, sizes)
    result = np.zeros((len(members),) + fixed, dtype=first.dtype)
    for index, member in enumerate(members):
      value = np.asarray(member[key])
      padded_shape(key, value.shape, sizes)
      result[(index,) + tuple(slice(0, d) for d in value.shape)] = value
    out[key] = result if stack else result[0]
  return out
