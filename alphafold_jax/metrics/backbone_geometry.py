"""Chemical sanity of a backbone: peptide C-N bond lengths and consecutive CA-CA distances.

    figures = backbone_geometry(atom_positions, atom_mask, aatype, residue_index)

Pairs (i, i+1) are counted only for consecutive residues of one chain: residue_index[i+1] -
residue_index[i] == 1 (and the same chain_index when one is given) with the atoms present.
Figures (every distance in angstrom; `None` where no pair qualifies):

  c_n_bonds                   number of peptide bonds C(i)-N(i+1) measured
  c_n_median_abs_deviation    median |d - 1.329| (1.329 A: the trans peptide C-N length of the
                              stereo-chemistry table, Engh & Huber; used for every bond)
  c_n_max                     longest C-N
  c_n_over_1_8                number of C-N > 1.8 A (a broken chain for PDB readers);
  c_n_over_1_8_positions      their i (zero-based index of the first residue of the pair)
  ca_ca_pairs                 number of CA(i)-CA(i+1) pairs measured, cis-prolines excluded
  ca_ca_min, ca_ca_max        over those pairs
  ca_ca_outside_3_6_4_0       number of those pairs outside [3.6, 4.0] A; positions as above
  ca_ca_outside_3_6_4_0_positions
  cis_proline_positions       pairs excluded as cis peptides before proline: residue i+1 is PRO
                              and the omega torsion CA(i)-C(i)-N(i+1)-CA(i+1) has |omega| < 30
                              degrees (a cis peptide has CA-CA ~2.9 A, a normal chemistry)

NumPy in, plain Python numbers out (ready for JSON).
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.geometry.torsions import torsion_sin_cos

C_N_IDEAL = rc.between_res_bond_length_c_n[0]  # 1.329 A (trans, not before proline)
C_N_BROKEN = 1.8  # A: a longer C-N is no bond
CA_CA_RANGE = (3.6, 4.0)  # A: trans peptides (ideal 3.80)
CIS_OMEGA_DEGREES = 30.0  # |omega| below this is a cis peptide

_N, _CA, _C = (rc.atom_order[name] for name in ('N', 'CA', 'C'))
_PRO = rc.resname_to_idx['PRO']


def consecutive_pairs(residue_index: np.ndarray,
                      chain_index: Optional[np.ndarray] = None) -> np.ndarray:
  """[L-1] bool: residue i+1 directly follows residue i in the same chain."""
  residue_index = np.asarray(residue_index, np.int64)
  pairs = np.diff(residue_index) == 1  # [L-1]
  if chain_index is not None:
    chain_index = np.asarray(chain_index)
    pairs &= chain_index[1:] == chain_index[:-1]
  return pairs


def _stats(values: np.ndarray, fn) -> Optional[float]:
  return float(fn(values)) if values.size else None


def backbone_geometry(atom_positions: np.ndarray, atom_mask: np.ndarray, aatype: np.ndarray,
                      residue_index: np.ndarray,
                      chain_index: Optional[np.ndarray] = None) -> Dict:
  """The figures of the module docstring for atom37 positions [L, 37, 3] / mask [L, 37]."""
  pos = np.asarray(atom_positions, np.float64)  # [L, 37, 3]
  mask = np.asarray(atom_mask) > 0.5  # [L, 37]
  aatype = np.asarray(aatype)
  if pos.ndim != 3 or pos.shape[1:] != (37, 3) or mask.shape != pos.shape[:2]:
    raise ValueError(f'backbone_geometry expects atom37 positions [L, 37, 3] and mask [L, 37], '
                     f'got {pos.shape} and {mask.shape}')
  pairs = consecutive_pairs(residue_index, chain_index)  # [L-1]
  c_i, n_j = pos[:-1, _C], pos[1:, _N]  # [L-1, 3]
  ca_i, ca_j = pos[:-1, _CA], pos[1:, _CA]  # [L-1, 3]

  has_c_n = pairs & mask[:-1, _C] & mask[1:, _N]  # [L-1]
  c_n = np.linalg.norm(n_j - c_i, axis=-1)  # [L-1]
  broken = has_c_n & (c_n > C_N_BROKEN)

  has_omega = pairs & mask[:-1, _CA] & mask[:-1, _C] & mask[1:, _N] & mask[1:, _CA]
  sin_cos = np.asarray(torsion_sin_cos(ca_i, c_i, n_j, ca_j), np.float64)  # [L-1, 2]
  cis = has_omega & (sin_cos[:, 1] > np.cos(np.deg2rad(CIS_OMEGA_DEGREES)))
  cis_pro = cis & (aatype[1:] == _PRO)

  has_ca_ca = pairs & mask[:-1, _CA] & mask[1:, _CA] & ~cis_pro
  ca_ca = np.linalg.norm(ca_j - ca_i, axis=-1)  # [L-1]
  outside = has_ca_ca & ((ca_ca < CA_CA_RANGE[0]) | (ca_ca > CA_CA_RANGE[1]))

  c_n_values, ca_ca_values = c_n[has_c_n], ca_ca[has_ca_ca]
  positions = lambda flags: [int(i) for i in np.flatnonzero(flags)]
  return {
      'c_n_bonds': int(has_c_n.sum()),
      'c_n_median_abs_deviation': _stats(np.abs(c_n_values - C_N_IDEAL), np.median),
      'c_n_max': _stats(c_n_values, np.max),
      'c_n_over_1_8': int(broken.sum()),
      'c_n_over_1_8_positions': positions(broken),
      'ca_ca_pairs': int(has_ca_ca.sum()),
      'ca_ca_min': _stats(ca_ca_values, np.min),
      'ca_ca_max': _stats(ca_ca_values, np.max),
      'ca_ca_outside_3_6_4_0': int(outside.sum()),
      'ca_ca_outside_3_6_4_0_positions': positions(outside),
      'cis_proline_positions': positions(cis_pro),
  }
