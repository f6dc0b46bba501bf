"""Stereo-chemistry: bond lengths, bond angles, van der Waals radii, violation bounds.

Source: `stereo_chemical_props.txt` (Engh & Huber 1991 values, as shipped with AlphaFold2
and OpenStructure), package data next to this module. Used by the structural-violation
losses (Jumper et al. 2021, Suppl. 1.9.11, Eq. 44-47) and the AMBER-free relaxation checks.

The file has three '-'-terminated sections: intra-residue bonds, intra-residue bond angles,
non-bonded minimum distances between elements. Bond angles are also turned into "virtual
bonds": the distance between the two outer atoms by the law of cosines, with first-order
propagation of the (assumed independent) standard deviations.

The file is parsed once at import into immutable tuples; the public loaders return fresh
containers on every call, so callers may modify what they get.
"""

import collections
import importlib.resources
import math
from typing import Dict, List, Mapping, Tuple

import numpy as np

from alphafold_jax.common import atoms
from alphafold_jax.common import residues

Bond = collections.namedtuple('Bond', ['atom1_name', 'atom2_name', 'length', 'stddev'])
BondAngle = collections.namedtuple(
    'BondAngle', ['atom1_name', 'atom2_name', 'atom3name', 'angle_rad', 'stddev'])

# Van der Waals radii by element, angstrom.
van_der_waals_radius: Dict[str, float] = {'C': 1.7, 'N': 1.55, 'O': 1.52, 'S': 1.8}

# Peptide bond C(i)-N(i+1): [general, before proline] means and standard deviations.
between_res_bond_length_c_n = [1.329, 1.341]
between_res_bond_length_stddev_c_n = [0.014, 0.016]
# Cosines of the angles across the peptide bond: [mean, stddev].
between_res_cos_angles_c_n_ca = [-0.5203, 0.0353]  # 121.352 +- 2.315 degrees
between_res_cos_angles_ca_c_n = [-0.4473, 0.0311]  # 116.568 +- 1.995 degrees

STEREO_CHEMICAL_PROPS_FILE = 'stereo_chemical_props.txt'


def _read_props_text() -> str:
  resource = importlib.resources.files(__package__).joinpath(STEREO_CHEMICAL_PROPS_FILE)
  return resource.read_text()


def _split_sections(text: str) -> List[List[str]]:
  """Sections of data lines (header line dropped), each terminated by a '-' line."""
  sections, current, header_pending = [], [], True
  for line in text.splitlines():
    stripped = line.strip()
    if not stripped:
      continue
    if stripped == '-':
      sections.append(current)
      current, header_pending = [], True
    elif header_pending:
      header_pending = False  # column titles
    else:
      current.append(stripped)
  if current:
    sections.append(current)
  return sections


def _virtual_bond(angle: BondAngle, bond1: Bond, bond2: Bond) -> Bond:
  """Distance atom1-atom3 from two bonds and the angle between them (law of cosines)."""
  a, b, gamma = bond1.length, bond2.length, angle.angle_rad
  c = math.sqrt(a * a + b * b - 2.0 * a * b * math.cos(gamma))
  # Partial derivatives of c with respect to gamma, a and b.
  dc_dgamma = a * b * math.sin(gamma) / c
  dc_da = (a - b * math.cos(gamma)) / c
  dc_db = (b - a * math.cos(gamma)) / c
  sigma = math.sqrt((dc_dgamma * angle.stddev) ** 2 + (dc_da * bond1.stddev) ** 2
                    + (dc_db * bond2.stddev) ** 2)
  return Bond(angle.atom1_name, angle.atom3name, c, sigma)


def _parse(text: str):
  sections = _split_sections(text)
  if len(sections) < 2:
    raise ValueError(f'{STEREO_CHEMICAL_PROPS_FILE}: expected bond and angle sections, '
                     f'found {len(sections)} section(s)')
  bonds: Dict[str, List[Bond]] = {}
  for line in sections[0]:
    pair, resname, length, stddev = line.split()
    atom1, atom2 = pair.split('-')
    bonds.setdefault(resname, []).append(Bond(atom1, atom2, float(length), float(stddev)))
  angles: Dict[str, List[BondAngle]] = {}
  for line in sections[1]:
    triple, resname, degrees, stddev_degrees = line.split()
    atom1, atom2, atom3 = triple.split('-')
    angles.setdefault(resname, []).append(BondAngle(
        atom1, atom2, atom3, float(degrees) / 180.0 * np.pi,
        float(stddev_degrees) / 180.0 * np.pi))
  bonds['UNK'], angles['UNK'] = [], []

  virtual: Dict[str, List[Bond]] = {}
  for resname, residue_angles in angles.items():
    by_pair = {frozenset((b.atom1_name, b.atom2_name)): b for b in bonds[resname]}
    virtual[resname] = [
        _virtual_bond(ba, by_pair[frozenset((ba.atom1_name, ba.atom2_name))],
                      by_pair[frozenset((ba.atom2_name, ba.atom3name))])
        for ba in residue_angles]

  nonbonded: Dict[Tuple[str, str], Tuple[float, float]] = {}
  for line in sections[2] if len(sections) > 2 else []:
    pair, minimum, tolerance = line.split()
    e1, e2 = pair.split('-')
    nonbonded[(e1, e2)] = nonbonded[(e2, e1)] = (float(minimum), float(tolerance))

  freeze = lambda d: tuple((k, tuple(v)) for k, v in d.items())
  return freeze(bonds), freeze(virtual), freeze(angles), tuple(nonbonded.items())


_BONDS, _VIRTUAL_BONDS, _ANGLES, _NONBONDED = _parse(_read_props_text())


def load_stereo_chemical_props() -> Tuple[Mapping[str, List[Bond]],
                                          Mapping[str, List[Bond]],
                                          Mapping[str, List[BondAngle]]]:
  """(residue_bonds, residue_virtual_bonds, residue_bond_angles): resname -> list.

  `residue_virtual_bonds` holds, for every bond angle a1-a2-a3, the implied a1-a3 distance
  and its standard deviation. 'UNK' maps to empty lists.
  """
  thaw = lambda t: {k: list(v) for k, v in t}
  return thaw(_BONDS), thaw(_VIRTUAL_BONDS), thaw(_ANGLES)


def load_nonbonded_min_distances() -> Dict[Tuple[str, str], Tuple[float, float]]:
  """(element1, element2) -> (minimum distance, tolerance), both orders present."""
  return dict(_NONBONDED)


def make_atom14_dists_bounds(overlap_tolerance: float = 1.5,
                             bond_length_tolerance_factor: float = 15
                             ) -> Dict[str, np.ndarray]:
  """Intra-residue distance bounds in atom14 layout for violation checks (Suppl. 1.9.11).

  Every pair of distinct atoms gets lower = r_vdw(a) + r_vdw(b) - overlap_tolerance and
  upper = 1e10; bonded pairs and angle-implied (virtual-bond) pairs are overwritten with
  length -/+ bond_length_tolerance_factor * stddev and their stddev.

  Returns:
    {'lower_bound', 'upper_bound', 'stddev'}: float32 [21, 14, 14] each (UNK row zero).
  """
  shape = (residues.restype_num + 1, 14, 14)
  lower, upper, stddev = (np.zeros(shape, np.float32) for _ in range(3))
  bonds, virtual_bonds, _ = load_stereo_chemical_props()
  for restype in range(residues.restype_num):
    resname = residues.resnames[restype]
    names = atoms.restype_name_to_atom14_names[resname]
    present = [i for i, n in enumerate(names) if n]
    radius = np.array([van_der_waals_radius[names[i][0]] for i in present])
    idx = np.array(present)
    clash = radius[:, None] + radius[None, :] - overlap_tolerance  # [n, n]
    off_diagonal = ~np.eye(len(present), dtype=bool)
    sub = np.ix_(idx, idx)
    lower[restype][sub] = np.where(off_diagonal, clash, 0.0)
    upper[restype][sub] = np.where(off_diagonal, 1e10, 0.0)
    for bond in bonds[resname] + virtual_bonds[resname]:
      i, j = names.index(bond.atom1_name), names.index(bond.atom2_name)
      margin = bond_length_tolerance_factor * bond.stddev
      for a, b in ((i, j), (j, i)):
        lower[restype, a, b] = bond.length - margin
        upper[restype, a, b] = bond.length + margin
        stddev[restype, a, b] = bond.stddev
  return {'lower_bound': lower, 'upper_bound': upper, 'stddev': stddev}
