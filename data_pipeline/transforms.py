"""Training transforms: contiguous crop, padding to length buckets, batching (NumPy).

All functions work on one example's flat feature dict in the per-example layout
(no ensemble axis unless named in `ensemble_keys`, no batch axis) and know, for
every AF2 key, which axes run over residues. The table below is `RESIDUE_AXES`
(axes counted in the per-example layout; L = residues, N = MSA rows,
T = templates, E = extra-MSA rows):

  residue axis 0 (per-residue [L, ...]):
    raw/processed: aatype ([L] or one-hot [L, 21]), residue_index, seq_mask,
      between_segment_residues, num_alignments, target_feat, hhblits_profile,
      atom14_atom_exists, atom37_atom_exists, residx_atom14_to_atom37,
      residx_atom37_to_atom14
    labels (data_pipeline.labels): all_atom_positions, all_atom_mask, atom14_*,
      rigidgroups_*, backbone_affine_*, torsion_angles_*, alt_torsion_angles_sin_cos,
      chi_*, alt_chi_angles, pseudo_beta, pseudo_beta_mask
  residue axis 1 ([N|E|T, L, ...]):
    msa, deletion_matrix_int, deletion_matrix, msa_feat, msa_mask, bert_mask,
    true_msa, extra_msa, extra_msa_mask, extra_has_deletion, extra_deletion_value,
    cluster_profile, cluster_deletion_mean, template_aatype,
    template_all_atom_positions, template_all_atom_masks, template_pseudo_beta,
    template_pseudo_beta_mask
  no residue axis: resolution, seq_length (scalar), is_distillation,
    msa_row_mask, extra_msa_row_mask, template_mask, template_sum_probs,
    template_domain_names, random_crop_to_size_seed, domain_name,
    msa_species_identifiers, num_templates
  special: `sequence` (bytes [1]) is sliced as a string; raw `seq_length` [L]
    (AF2 repeats the length per residue) is set to the new length.

Pair-shaped features ([L, L, ...]) or other custom keys are declared with
`extra_axes={'my_pair_feature': (0, 1)}`. An unknown non-scalar key raises a
`TransformError` rather than being silently left uncropped.

Cropping follows AF2's `random_crop_to_size` (Suppl. 1.2.8): one contiguous
window, the same for every key, start uniform in [0, L - crop_size]; sequences
no longer than crop_size are kept whole. Padding is with zeros, so every mask
(seq_mask, all_atom_mask, msa_mask, ...) is 0 in the padding.
"""

from __future__ import annotations

import types
from typing import Collection, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from data_pipeline.errors import PipelineError
from data_pipeline.feature_schema import FEATURE_SCHEMA, NUM_RES

FeatureDict = Dict[str, np.ndarray]
AxesTable = Mapping[str, Tuple[int, ...]]

# Residue lengths examples and predictions are padded to (one compiled program per bucket):
# steps of 32 up to 192, 64 up to 512, 128 up to 1024, then 256-512.
DEFAULT_BUCKETS = (32, 64, 96, 128, 160, 192, 256, 320, 384, 448, 512, 640, 768, 896, 1024,
                   1280, 1536, 2048, 2560, 3072)

_PER_RESIDUE = (
    # raw / processed per-residue features
    'aatype', 'residue_index', 'seq_mask', 'between_segment_residues',
    'num_alignments', 'target_feat', 'hhblits_profile', 'atom14_atom_exists',
    'atom37_atom_exists', 'residx_atom14_to_atom37', 'residx_atom37_to_atom14',
    # structure labels
    'all_atom_positions', 'all_atom_mask', 'atom14_gt_positions',
    'atom14_gt_exists', 'atom14_alt_gt_positions', 'atom14_alt_gt_exists',
    'atom14_atom_is_ambiguous', 'rigidgroups_gt_frames', 'rigidgroups_gt_exists',
    'rigidgroups_group_exists', 'rigidgroups_group_is_ambiguous',
    'rigidgroups_alt_gt_frames', 'backbone_affine_tensor', 'backbone_affine_mask',
    'torsion_angles_sin_cos', 'alt_torsion_angles_sin_cos', 'torsion_angles_mask',
    'chi_angles_sin_cos', 'chi_angles', 'alt_chi_angles', 'chi_mask',
    'pseudo_beta', 'pseudo_beta_mask',
)
_RESIDUE_AXIS_1 = (
    'msa', 'deletion_matrix_int', 'deletion_matrix', 'msa_feat', 'msa_mask',
    'bert_mask', 'true_msa', 'extra_msa', 'extra_msa_mask', 'extra_has_deletion',
    'extra_deletion_value', 'cluster_profile', 'cluster_deletion_mean',
    'template_aatype', 'template_all_atom_positions', 'template_all_atom_masks',
    'template_pseudo_beta', 'template_pseudo_beta_mask',
)
_NO_RESIDUE_AXIS = (
    'resolution', 'seq_length', 'is_distillation', 'msa_row_mask',
    'extra_msa_row_mask', 'template_mask', 'template_sum_probs',
    'template_domain_names', 'random_crop_to_size_seed', 'domain_name',
    'msa_species_identifiers', 'num_templates', 'sequence',
)


def _build_residue_axes() -> Dict[str, Tuple[int, ...]]:
  table = {key: tuple(i for i, p in enumerate(schema) if p == NUM_RES)
           for key, schema in FEATURE_SCHEMA.items()}
  table.update({key: (0,) for key in _PER_RESIDUE})
  table.update({key: (1,) for key in _RESIDUE_AXIS_1})
  table.update({key: () for key in _NO_RESIDUE_AXIS})
  return table


RESIDUE_AXES: AxesTable = types.MappingProxyType(_build_residue_axes())  # read-only


class TransformError(PipelineError):
  """A feature dict that cannot be cropped / padded / batched consistently."""


def residue_axes(key: str, value: np.ndarray,
                 extra_axes: Optional[AxesTable] = None,
                 ensemble_keys: Collection[str] = ()) -> Tuple[int, ...]:
  """Axes of `value` (feature `key`) that run over residues.

  `ensemble_keys` name keys that carry a leading ensemble axis (AF2 processed
  features), whose residue axes are shifted by one.
  """
  if extra_axes and key in extra_axes:
    axes = tuple(extra_axes[key])
  elif key in RESIDUE_AXES:
    axes = RESIDUE_AXES[key]
  elif np.ndim(value) == 0:
    axes = ()
  else:
    raise TransformError(
        f'unknown feature {key!r} with shape {np.shape(value)}: declare its residue '
        f'axes with extra_axes={{{key!r}: (...)}}')
  if key in ensemble_keys:
    axes = tuple(a + 1 for a in axes)
  if key == 'seq_length' and np.ndim(value) == 1 + (key in ensemble_keys):
    axes = (np.ndim(value) - 1,)  # raw AF2 layout: the length repeated per residue
  if axes and max(axes) >= np.ndim(value):
    raise TransformError(f'feature {key!r} with shape {np.shape(value)} has no '
                         f'residue axis {max(axes)}')
  return axes


def num_residues(example: Mapping[str, np.ndarray],
                 extra_axes: Optional[AxesTable] = None,
                 ensemble_keys: Collection[str] = ()) -> int:
  """The residue count L shared by every per-residue key (raises if they disagree)."""
  found = {}
  for key, value in example.items():
    for axis in residue_axes(key, value, extra_axes, ensemble_keys):
      found.setdefault(int(np.shape(value)[axis]), key)
  if not found:
    raise TransformError('example has no per-residue feature')
  if len(found) > 1:
    detail = ', '.join(f'{k!r} has {n}' for n, k in found.items())
    raise TransformError(f'per-residue features disagree on the length: {detail}')
  return next(iter(found))


def crop_example(example: Mapping[str, np.ndarray], start: int, size: int,
                 extra_axes: Optional[AxesTable] = None,
                 ensemble_keys: Collection[str] = ()) -> FeatureDict:
  """Residues [start, start + size) of every per-residue axis of every key."""
  num_res = num_residues(example, extra_axes, ensemble_keys)
  if not 0 <= start <= start + size <= num_res or size < 1:
    raise TransformError(f'crop [{start}, {start + size}) is outside the '
                         f'{num_res} residues')
  window = slice(start, start + size)
  out = {}
  for key, value in example.items():
    if key == 'sequence':
      out[key] = np.array([s[window] for s in np.asarray(value).reshape(-1)],
                          dtype=object).reshape(np.shape(value))
      continue
    axes = residue_axes(key, value, extra_axes, ensemble_keys)
    value = np.asarray(value)
    if key == 'seq_length':
      out[key] = np.full(value.shape[:-1] + (size,), size, value.dtype) if axes \
          else np.full(value.shape, size, value.dtype)
      continue
    index = tuple(window if axis in axes else slice(None)
                  for axis in range(value.ndim))
    out[key] = value[index].copy()
  return out


def choose_crop_start(num_res: int, crop_size: int,
                      rng: np.random.Generator) -> int:
  """Start of a contiguous crop, uniform in [0, num_res - crop_size] (0 if short)."""
  if crop_size < 1:
    raise TransformError(f'crop_size must be >= 1, got {crop_size}')
  if num_res <= crop_size:
    return 0
  return int(rng.integers(0, num_res - crop_size + 1))


def random_crop(example: Mapping[str, np.ndarray], crop_size: int,
                rng: np.random.Generator,
                extra_axes: Optional[AxesTable] = None,
                ensemble_keys: Collection[str] = ()) -> FeatureDict:
  """Contiguous random crop of at most `crop_size` residues (Suppl. 1.2.8).

  Deterministic given the Generator state; the same window is applied to every
  feature and label (MSA columns, templates, pair axes declared in extra_axes).
  """
  num_res = num_residues(example, extra_axes, ensemble_keys)
  start = choose_crop_start(num_res, crop_size, rng)
  return crop_example(example, start, min(crop_size, num_res), extra_axes,
                      ensemble_keys)


def pick_bucket(num_res: int, buckets: Sequence[int] = DEFAULT_BUCKETS) -> int:
  """Smallest bucket >= num_res; raises if the sequence exceeds every bucket."""
  fitting = [b for b in sorted(buckets) if b >= num_res]
  if not fitting:
    raise TransformError(f'{num_res} residues exceed the largest bucket '
                         f'{max(buckets)}; crop first')
  return fitting[0]


def _pad_to_shape(value: np.ndarray, shape: Tuple[int, ...]) -> np.ndarray:
  if value.shape == shape:
    return value.copy()
  out = np.zeros(shape, dtype=value.dtype)
  out[tuple(slice(0, d) for d in value.shape)] = value
  return out


def pad_example(example: Mapping[str, np.ndarray], num_res: int,
                extra_axes: Optional[AxesTable] = None,
                ensemble_keys: Collection[str] = ()) -> FeatureDict:
  """Zero-pads every residue axis to `num_res`.

  Adds `seq_mask` (ones over the real residues) when absent, so padding is always
  marked; real positions are unchanged. `seq_length` keeps the real length.
  """
  length = num_residues(example, extra_axes, ensemble_keys)
  if num_res < length:
    raise TransformError(f'cannot pad {length} residues down to {num_res}')
  example = dict(example)
  if 'seq_mask' not in example:
    example['seq_mask'] = np.ones((length,), np.float32)
  out = {}
  for key, value in example.items():
    value = np.asarray(value)
    if key == 'sequence':
      out[key] = value.copy()
      continue
    axes = residue_axes(key, value, extra_axes, ensemble_keys)
    if key == 'seq_length':  # keeps the real length (raw layout: repeated)
      out[key] = (np.full(value.shape[:-1] + (num_res,), length, value.dtype)
                  if axes else value.copy())
      continue
    shape = tuple(num_res if axis in axes else d for axis, d in enumerate(value.shape))
    out[key] = _pad_to_shape(value, shape)
  return out


def pad_to_bucket(example: Mapping[str, np.ndarray],
                  buckets: Sequence[int] = DEFAULT_BUCKETS,
                  extra_axes: Optional[AxesTable] = None,
                  ensemble_keys: Collection[str] = ()) -> FeatureDict:
  """`pad_example` to the smallest bucket that fits the example."""
  length = num_residues(example, extra_axes, ensemble_keys)
  return pad_example(example, pick_bucket(length, buckets), extra_axes,
                     ensemble_keys)


def batch_examples(examples: Sequence[Mapping[str, np.ndarray]],
                   buckets: Optional[Sequence[int]] = None,
                   num_res: Optional[int] = None,
                   extra_axes: Optional[AxesTable] = None,
                   ensemble_keys: Collection[str] = ()) -> FeatureDict:
  """Stacks examples of different lengths into one batch [B, ...].

  Residue axes are padded to `num_res`, else to the bucket of the longest
  example (when `buckets` is given), else to the longest example; every other
  axis (MSA rows, templates) is zero-padded to its largest size in the batch.
  `seq_mask` [B, L] marks the real residues of each example.
  """
  if not examples:
    raise TransformError('cannot batch an empty list of examples')
  keys = set(examples[0])
  for i, example in enumerate(examples):
    if set(example) != keys:
      diff = sorted(set(example) ^ keys)
      raise TransformError(f'example {i} has different keys from example 0: {diff}')
  lengths = [num_residues(e, extra_axes, ensemble_keys) for e in examples]
  target = num_res or (pick_bucket(max(lengths), buckets) if buckets
                       else max(lengths))
  padded = [pad_example(e, target, extra_axes, ensemble_keys) for e in examples]
  out = {}
  for key in padded[0]:
    values = [np.asarray(p[key]) for p in padded]
    if len({v.ndim for v in values}) > 1:
      raise TransformError(f'feature {key!r} has different ranks across examples')
    shape = tuple(np.max([v.shape for v in values], axis=0)) if values[0].ndim else ()
    out[key] = np.stack([_pad_to_shape(v, shape) for v in values])  # [B, ...]
  return out
