"""Cropping and padding of merged complex examples (NumPy).

Contiguous cropping (Evans et al. 2021, AF-Multimer Suppl. Alg. 1 "Contiguous cropping"):
chains are visited in a random order; each keeps one contiguous stretch whose length is drawn
uniformly between the least that still lets the crop reach its size with the chains left and
the most that fits, at a uniform start. The kept residues stay in their original order.

Padding appends residues with every feature zero (seq_mask 0, asym_id / entity_id 0, MSA id
0 with msa_mask 0) so complexes of a length bucket share one compiled model; padded residues
do not change the outputs of real ones (masks).

Shapes: N = residues, M = MSA rows, T = templates.
"""

from __future__ import annotations

from typing import Dict, Mapping, Sequence

import numpy as np

from data_pipeline.errors import FeatureError

FeatureDict = Dict[str, np.ndarray]

RESIDUE_AXIS = {  # feature -> its residue axis
    'aatype': 0, 'residue_index': 0, 'seq_mask': 0, 'asym_id': 0, 'entity_id': 0, 'sym_id': 0,
    'entity_mask': 0, 'deletion_mean': 0, 'all_atom_positions': 0, 'all_atom_mask': 0,
    'msa': 1, 'msa_mask': 1, 'deletion_matrix': 1, 'bert_mask': 1,
    'template_aatype': 1, 'template_all_atom_positions': 1, 'template_all_atom_mask': 1}


def chain_lengths(example: Mapping[str, np.ndarray]) -> np.ndarray:
  """Residues per chain in order of appearance ([C]); padding (asym_id 0) excluded."""
  asym = np.asarray(example['asym_id'])
  ids = [a for i, a in enumerate(asym) if a > 0 and (i == 0 or asym[i - 1] != a)]
  return np.array([int(np.sum(asym == a)) for a in ids])


def contiguous_crop_indices(lengths: Sequence[int], crop_size: int,
                            rng: np.random.Generator) -> np.ndarray:
  """Residue indices (ascending) of a contiguous multi-chain crop of at most crop_size.

  With fewer residues in the crop than chains (or a crop that the chains visited first fill),
  the chains visited last keep no residue: Alg. 1 lets a chain's stretch be empty.
  """
  lengths = [int(n) for n in lengths]
  if int(crop_size) < 1:
    raise FeatureError(f'crop size must be >= 1 residue, got {crop_size}')
  if not lengths or min(lengths) < 1:
    raise FeatureError(f'cannot crop a complex with chain lengths {lengths}: every chain needs '
                       '>= 1 residue')
  starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
  remaining, added = sum(lengths), 0
  keep = []
  for k in rng.permutation(len(lengths)):
    n = lengths[k]
    remaining -= n
    most = min(crop_size - added, n)
    least = min(n, max(0, crop_size - (added + remaining)))
    size = int(rng.integers(least, most + 1))
    start = int(rng.integers(0, n - size + 1))
    keep.append(np.arange(starts[k] + start, starts[k] + start + size))
    added += size
  return np.sort(np.concatenate(keep)) if keep else np.zeros((0,), int)


def crop_complex(example: Mapping[str, np.ndarray], indices: np.ndarray) -> FeatureDict:
  """The example restricted to residues `indices` along every residue axis."""
  out = dict(example)
  for name, axis in RESIDUE_AXIS.items():
    if name in out:
      out[name] = np.take(out[name], indices, axis=axis)
  if 'seq_length' in out:
    out['seq_length'] = np.asarray(len(indices), np.int32)
  return out


def pad_complex(example: Mapping[str, np.ndarray], num_res: int) -> FeatureDict:
  """Zero padding of every residue axis to num_res (see the module docstring)."""
  n = int(np.shape(example['aatype'])[0])
  if num_res < n:
    raise FeatureError(f'cannot pad a complex of {n} residues to {num_res}')
  out = dict(example)
  for name, axis in RESIDUE_AXIS.items():
    if name in out:
      value = np.asarray(out[name])
      widths = [(0, 0)] * value.ndim
      widths[axis] = (0, num_res - n)
      out[name] = np.pad(value, widths)
  return out
