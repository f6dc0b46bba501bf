"""Backbone chemical-sanity figures (metrics/backbone_geometry.py) on the crystal 1CRN, a
stretched peptide bond, chain breaks, and a built peptide with a cis peptide before proline."""

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from alphafold_jax.metrics.backbone_geometry import backbone_geometry

_N, _CA, _C = rc.atom_order['N'], rc.atom_order['CA'], rc.atom_order['C']


@pytest.fixture(scope='module')
def crambin(data_dir):
  return protein_lib.from_file(data_dir / 'structures' / 'nano' / '1CRN.pdb')


def _figures(prot, positions=None, residue_index=None, chain_index=None):
  return backbone_geometry(prot.atom_positions if positions is None else positions,
                           prot.atom_mask, prot.aatype,
                           prot.residue_index if residue_index is None else residue_index,
                           chain_index)


def _stretch(prot, k, by=1.0):
  """1CRN with residues k+1.. moved by `by` A along C(k) -> N(k+1): that bond longer by `by`."""
  pos = np.array(prot.atom_positions, np.float64)
  direction = pos[k + 1, _N] - pos[k, _C]
  pos[k + 1:] += by * direction / np.linalg.norm(direction) * prot.atom_mask[k + 1:, :, None]
  return pos


def test_crystal_crambin_is_chemically_sane(crambin):
  g = _figures(crambin)
  assert g['c_n_bonds'] == g['ca_ca_pairs'] == crambin.num_residues - 1 == 45
  assert g['c_n_median_abs_deviation'] < 0.02
  assert g['c_n_max'] < 1.8 and g['c_n_over_1_8'] == 0 and g['c_n_over_1_8_positions'] == []
  assert 3.6 < g['ca_ca_min'] <= g['ca_ca_max'] < 4.0
  assert g['ca_ca_outside_3_6_4_0'] == 0 and g['cis_proline_positions'] == []


@pytest.mark.parametrize('k', [0, 17, 44])
def test_one_stretched_peptide_bond_is_found_at_its_position(crambin, k):
  before = _figures(crambin)
  g = _figures(crambin, _stretch(crambin, k))
  assert g['c_n_over_1_8'] == 1 and g['c_n_over_1_8_positions'] == [k]
  assert g['c_n_max'] == pytest.approx(
      np.linalg.norm(crambin.atom_positions[k + 1, _N] - crambin.atom_positions[k, _C]) + 1.0,
      abs=1e-4)
  assert g['ca_ca_outside_3_6_4_0_positions'] == [k] and g['ca_ca_max'] > 4.0
  # The median of 45 deviations barely moves when one grows.
  assert abs(g['c_n_median_abs_deviation'] - before['c_n_median_abs_deviation']) < 0.005


def test_only_consecutive_residues_of_one_chain_are_paired(crambin):
  k = 17
  stretched = _stretch(crambin, k, by=5.0)
  gap = np.array(crambin.residue_index)
  gap[k + 1:] += 1  # residue numbering jumps after k: no bond expected there
  g = _figures(crambin, stretched, residue_index=gap)
  assert g['c_n_bonds'] == g['ca_ca_pairs'] == 44
  assert g['c_n_over_1_8'] == 0 and g['ca_ca_outside_3_6_4_0'] == 0
  chains = np.where(np.arange(crambin.num_residues) > k, 1, 0)  # same numbering, two chains
  g = _figures(crambin, stretched, chain_index=chains)
  assert g['c_n_bonds'] == 44 and g['c_n_over_1_8'] == 0
  assert _figures(crambin, stretched)['c_n_over_1_8_positions'] == [k]  # without: found


def _place(a, b, c, length, angle_deg, torsion_deg):
  """NeRF: the atom d with |cd| = length, angle bcd, torsion abcd."""
  angle, torsion = np.deg2rad(angle_deg), np.deg2rad(torsion_deg)
  bc = (c - b) / np.linalg.norm(c - b)
  n = np.cross(b - a, bc)
  n /= np.linalg.norm(n)
  m = np.stack([bc, np.cross(n, bc), n], axis=1)
  d = np.array([-length * np.cos(angle), length * np.sin(angle) * np.cos(torsion),
                length * np.sin(angle) * np.sin(torsion)])
  return c + m @ d


def _peptide(sequence, omegas):
  """Backbone (N, CA, C) of a peptide from ideal geometry; omegas[i]: torsion CA(i)-C(i)-N(i+1)
  -CA(i+1) in degrees. phi = -60, psi = 140 (extended enough to keep the chain apart)."""
  n = len(sequence)
  pos = np.zeros((n, 37, 3))
  atoms = [np.array([0., 1.458, 0.]), np.zeros(3), np.array([1.525, 0., 0.])]  # N, CA, C
  for i in range(1, n):
    n_, ca_, c_ = atoms[-3:]
    atoms.append(_place(n_, ca_, c_, 1.329, 116.2, 140.))  # N(i): psi(i-1)
    atoms.append(_place(ca_, c_, atoms[-1], 1.458, 121.7, omegas[i - 1]))  # CA(i): omega
    atoms.append(_place(c_, atoms[-2], atoms[-1], 1.525, 111.2, -60.))  # C(i): phi(i)
  for i in range(n):
    pos[i, [_N, _CA, _C]] = atoms[3 * i:3 * i + 3]
  mask = np.zeros((n, 37), np.float32)
  mask[:, [_N, _CA, _C]] = 1
  aatype = np.array([rc.restype_order[a] for a in sequence])
  return pos, mask, aatype, np.arange(1, n + 1)


def test_cis_peptide_before_proline_is_not_counted_elsewhere_it_is():
  omegas = [180., 180., 180., 0., 180., 180.]  # cis between residues 3 and 4
  pos, mask, aatype, index = _peptide('AGSAPVL', omegas)
  ca = pos[:, _CA]
  cis_ca_ca = np.linalg.norm(ca[4] - ca[3])
  assert 2.7 < cis_ca_ca < 3.1  # a cis peptide: ~2.9 A
  g = backbone_geometry(pos, mask, aatype, index)
  assert g['cis_proline_positions'] == [3]
  assert g['ca_ca_outside_3_6_4_0'] == 0 and g['ca_ca_pairs'] == 5
  assert 3.6 < g['ca_ca_min'] and g['ca_ca_max'] < 4.0  # trans pairs ~3.8 A
  assert g['c_n_over_1_8'] == 0 and g['c_n_median_abs_deviation'] < 1e-6
  # The same cis peptide before alanine is counted (no exemption).
  pos, mask, aatype, index = _peptide('AGSAAVL', omegas)
  g = backbone_geometry(pos, mask, aatype, index)
  assert g['cis_proline_positions'] == [] and g['ca_ca_pairs'] == 6
  assert g['ca_ca_outside_3_6_4_0_positions'] == [3]
  assert g['ca_ca_min'] == pytest.approx(cis_ca_ca, abs=1e-6)
  # A trans peptide before proline stays a normal pair.
  pos, mask, aatype, index = _peptide('AGSAPVL', [180.] * 6)
  g = backbone_geometry(pos, mask, aatype, index)
  assert g['cis_proline_positions'] == [] and g['ca_ca_pairs'] == 6


def test_missing_atoms_and_bad_shapes():
  pos, mask, aatype, index = _peptide('AGSAPVL', [180.] * 6)
  mask = mask.copy()
  mask[2, _C] = 0  # no C(2): the bond 2-3 cannot be measured, CA-CA still can
  g = backbone_geometry(pos, mask, aatype, index)
  assert g['c_n_bonds'] == 5 and g['ca_ca_pairs'] == 6
  single = backbone_geometry(pos[:1], mask[:1], aatype[:1], index[:1])
  assert single['c_n_bonds'] == 0 and single['c_n_max'] is None and single['ca_ca_min'] is None
  with pytest.raises(ValueError, match='atom37'):
    backbone_geometry(pos[:, :14], mask[:, :14], aatype, index)
