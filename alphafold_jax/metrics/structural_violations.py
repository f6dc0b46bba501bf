"""AF2's structural-violation figures of a structure (Suppl. Sec. 1.9.11), from atom37 arrays.

    report = violation_report(aatype, atom_positions, atom_mask, residue_index)

Runs OUR violation functions (`losses.find_structural_violations` +
`losses.compute_violation_metrics`) with AF2's settings (violation_tolerance_factor 12,
clash_overlap_tolerance 1.5: LossConfig's defaults) on the atom14 form of the structure, as
AF2's relax does (`amber_minimize.find_violations` / `get_violation_metrics`). Report keys:

  num_residue_violations       residues with any violation (bond, clash or within-residue):
                               AF2 relax's count
  residue_violations           their zero-based positions
  num_between_residue_bond, num_between_residue_clash, num_within_residue
                               residues with each kind of violation
  violations_between_residue_bond, violations_between_residue_clash, violations_within_residue,
  violations_per_residue, violations_extreme_ca_ca_distance
                               AF2's `structure_module` violation metrics (fractions)
  violations_ca_chirality      ours: fraction of residues with D-chirality at CA

The atom14 atoms are those of the residue type that are present in `atom_mask`.
DISCREPANCY: AF2 marks every atom of the residue type as existing, so an atom missing from the
input counts at the origin; the two agree whenever all heavy atoms are present (predictions,
relaxed structures, complete crystal structures).

The checks run on the CPU, jitted once per padded length (a multiple of `PAD_MULTIPLE`;
padded residues are masked out and change nothing). The clash check holds a
[L, L, 14, 14] array (~0.8 GB at L = 1000).
"""

from __future__ import annotations

from typing import Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.losses.config import LossConfig
from alphafold_jax.losses.violations import compute_violation_metrics, find_structural_violations

PAD_MULTIPLE = 32  # residues: one compiled check per multiple


def atom37_to_atom14(aatype: np.ndarray, atom_positions: np.ndarray,
                     atom_mask: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """atom14 positions [L, 14, 3] and existence [L, 14] (ideal slots of the residue type that
  are present in the atom37 mask)."""
  aatype = np.asarray(aatype)
  to37 = rc.restype_atom14_to_atom37[aatype]  # [L, 14]
  exists = rc.restype_atom14_mask[aatype] * np.take_along_axis(
      np.asarray(atom_mask, np.float32), to37, axis=1)  # [L, 14]
  positions = np.take_along_axis(np.asarray(atom_positions, np.float32), to37[..., None],
                                 axis=1) * exists[..., None]  # [L, 14, 3]
  return positions, exists


@jax.jit
def _checks(aatype, residue_index, seq_mask, exists, positions):
  batch = {'aatype': aatype, 'residue_index': residue_index, 'atom14_atom_exists': exists,
           'seq_mask': seq_mask}
  found = find_structural_violations(batch, positions, LossConfig())
  metrics = compute_violation_metrics(batch, positions, found)
  between, within = found['between_residues'], found['within_residues']
  masks = {
      'total': found['total_per_residue_violations_mask'],
      'between_residue_bond': between['connections_per_residue_violation_mask'],
      'between_residue_clash': jnp.max(between['clashes_per_atom_clash_mask'], axis=-1),
      'within_residue': jnp.max(within['per_atom_violations'], axis=-1),
  }  # each [N]
  return masks, metrics


def _pad(x: np.ndarray, length: int) -> np.ndarray:
  return np.pad(x, [(0, length - x.shape[0])] + [(0, 0)] * (x.ndim - 1))


def violation_report(aatype: np.ndarray, atom_positions: np.ndarray, atom_mask: np.ndarray,
                     residue_index: np.ndarray) -> Dict:
  """The report of the module docstring (JSON-ready: ints, floats and lists)."""
  n = int(np.asarray(aatype).shape[0])
  positions, exists = atom37_to_atom14(aatype, atom_positions, atom_mask)
  length = max(PAD_MULTIPLE, -(-n // PAD_MULTIPLE) * PAD_MULTIPLE)
  residue_index = np.asarray(residue_index, np.int32)
  # Padded residues: no atoms, seq_mask 0, indices beyond the chain (never "consecutive").
  pad_index = residue_index[-1] + 2 + 2 * np.arange(length - n) if n else np.arange(length)
  args = (_pad(np.asarray(aatype, np.int32), length),
          np.concatenate([residue_index, pad_index.astype(np.int32)]),
          _pad(np.ones(n, np.float32), length), _pad(exists, length), _pad(positions, length))
  with jax.default_device(jax.devices('cpu')[0]):
    masks, metrics = _checks(*map(jnp.asarray, args))
  masks = {k: np.asarray(v)[:n] > 0 for k, v in masks.items()}
  report = {
      'num_residue_violations': int(masks['total'].sum()),
      'residue_violations': [int(i) for i in np.flatnonzero(masks['total'])],
  }
  for kind in ('between_residue_bond', 'between_residue_clash', 'within_residue'):
    report[f'num_{kind}'] = int(masks[kind].sum())
  report.update({name: float(value) for name, value in metrics.items()})
  return report
