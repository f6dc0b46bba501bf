"""Oracle equality of every residue constant with AlphaFold2 v2.3 (alphafold-colabfold)."""

import types
import typing

import numpy as np
import pytest

from alphafold_jax.common import atoms
from alphafold_jax.common import residue_constants as ours
from alphafold_jax.common import residues
from alphafold_jax.common import rigid_groups
from alphafold_jax.common import stereo_chemistry

from tests.oracle import oracle_import, requires_oracle  # noqa: E402
rc = oracle_import('alphafold.common.residue_constants')

pytestmark = requires_oracle

# Module-level names in the oracle that are imports or leftovers of its top-level loops.
_NOT_CONSTANTS = {'atom', 'atom_i', 'chi_group', 'chi_group_i', 'res_name',
                  'chi_angle_atoms_for_res', 'stereo_chemical_props_path'}


def _oracle_names():
  names = []
  for name in sorted(vars(rc)):
    value = getattr(rc, name)
    if (name.startswith('_') or name in _NOT_CONSTANTS or isinstance(value, types.ModuleType)
        or getattr(value, '__module__', None) == 'typing' or value is typing.Final):
      continue
    if isinstance(value, type) and not issubclass(value, tuple):
      continue
    names.append(name)
  return names


ORACLE_NAMES = _oracle_names()


def assert_same(ours_value, theirs, path='value'):
  """Exact for ints/strings/bools, allclose(1e-6) for floats, recursively; dtypes for arrays."""
  if isinstance(theirs, np.ndarray):
    ours_value = np.asarray(ours_value)
    assert ours_value.shape == theirs.shape, f'{path}: shape {ours_value.shape} != {theirs.shape}'
    assert ours_value.dtype == theirs.dtype, f'{path}: dtype {ours_value.dtype} != {theirs.dtype}'
    if theirs.dtype.kind in 'fc':
      np.testing.assert_allclose(ours_value, theirs, atol=1e-6, rtol=0, err_msg=path)
    else:
      np.testing.assert_array_equal(ours_value, theirs, err_msg=path)
  elif isinstance(theirs, dict):
    assert isinstance(ours_value, dict), f'{path}: not a dict'
    assert set(ours_value) == set(theirs), f'{path}: keys differ {set(ours_value) ^ set(theirs)}'
    for key in theirs:
      assert_same(ours_value[key], theirs[key], f'{path}[{key!r}]')
  elif isinstance(theirs, (list, tuple)):
    assert isinstance(ours_value, (list, tuple)), f'{path}: {type(ours_value)} not a sequence'
    assert len(ours_value) == len(theirs), f'{path}: length {len(ours_value)} != {len(theirs)}'
    for i, (a, b) in enumerate(zip(ours_value, theirs)):
      assert_same(a, b, f'{path}[{i}]')
  elif isinstance(theirs, (float, np.floating)):
    assert isinstance(ours_value, (float, np.floating)), f'{path}: {ours_value!r} not a float'
    assert abs(ours_value - theirs) <= 1e-6, f'{path}: {ours_value} != {theirs}'
  else:
    assert type(ours_value) is type(theirs) or (
        isinstance(theirs, (int, np.integer)) and isinstance(ours_value, (int, np.integer))), (
            f'{path}: type {type(ours_value)} != {type(theirs)}')
    assert ours_value == theirs, f'{path}: {ours_value!r} != {theirs!r}'


def test_oracle_names_cover_the_brief():
  for name in ('restypes', 'restype_order', 'restype_num', 'unk_restype_index', 'restype_1to3',
               'restype_3to1', 'atom_types', 'atom_order', 'atom_type_num',
               'restype_name_to_atom14_names', 'restype_atom14_mask', 'restype_atom37_mask',
               'chi_angles_atoms', 'chi_angles_mask', 'chi_pi_periodic',
               'rigid_group_atom_positions', 'restype_rigid_group_default_frame',
               'restype_atom14_to_rigid_group', 'restype_atom14_rigid_group_positions',
               'restype_atom37_to_rigid_group', 'residue_atom_renaming_swaps',
               'van_der_waals_radius', 'load_stereo_chemical_props', 'make_atom14_dists_bounds',
               'between_res_bond_length_c_n', 'HHBLITS_AA_TO_ID',
               'MAP_HHBLITS_AATYPE_TO_OUR_AATYPE', 'sequence_to_onehot'):
    assert name in ORACLE_NAMES, name
  assert len(ORACLE_NAMES) > 50


@pytest.mark.parametrize('name', ORACLE_NAMES)
def test_every_oracle_name_exists_and_matches(name):
  assert hasattr(ours, name), f'residue_constants.{name} missing'
  theirs = getattr(rc, name)
  if callable(theirs) and not isinstance(theirs, type):
    return  # functions are compared behaviourally below
  if isinstance(theirs, type):  # Bond / BondAngle namedtuples
    assert getattr(ours, name)._fields == theirs._fields
    return
  assert_same(getattr(ours, name), theirs, name)


def test_extra_maps_match_oracle_model_code():
  from alphafold.model import all_atom
  from alphafold.model import all_atom_multimer
  assert_same(ours.restype_atom14_to_atom37, all_atom_multimer._make_restype_atom14_to_atom37())
  assert_same(ours.restype_atom37_to_atom14, all_atom_multimer._make_restype_atom37_to_atom14())
  assert_same(ours.restype_atom14_mask, all_atom_multimer._make_restype_atom14_mask())
  assert_same(ours.restype_atom14_renaming_matrices, all_atom.RENAMING_MATRICES)
  # An atom14 slot is ambiguous exactly when the renaming moves it.
  moved = 1.0 - np.diagonal(all_atom.RENAMING_MATRICES, axis1=1, axis2=2)
  np.testing.assert_array_equal(ours.restype_atom14_is_ambiguous, moved)


def test_rigidgroup_tables_match_oracle_frames():
  """Group-exists / ambiguity masks via the oracle's atom37_to_frames on all 21 types."""
  import jax.numpy as jnp
  from alphafold.model import all_atom
  rng = np.random.default_rng(3)
  aatype = np.concatenate([np.arange(21), rng.integers(0, 21, size=13)])  # [34]
  positions = rng.normal(size=(aatype.shape[0], 37, 3)).astype(np.float32) * 3
  mask = np.ones((aatype.shape[0], 37), np.float32)
  out = all_atom.atom37_to_frames(jnp.asarray(aatype), jnp.asarray(positions), jnp.asarray(mask))
  np.testing.assert_array_equal(ours.restype_rigidgroup_mask[aatype],
                                np.asarray(out['rigidgroups_group_exists']))
  np.testing.assert_array_equal(ours.restype_rigidgroup_is_ambiguous[aatype],
                                np.asarray(out['rigidgroups_group_is_ambiguous']))
  # Base atoms: backbone (C, CA, N), psi (CA, C, O), chi_k = last three chi atoms.
  names = ours.restype_rigidgroup_base_atom_names
  for restype in range(20):
    resname = rc.restype_1to3[rc.restypes[restype]]
    assert list(names[restype, 0]) == ['C', 'CA', 'N']
    assert list(names[restype, 3]) == ['CA', 'C', 'O']
    for chi, quad in enumerate(rc.chi_angles_atoms[resname]):
      assert list(names[restype, 4 + chi]) == quad[1:]
      np.testing.assert_array_equal(ours.restype_rigidgroup_base_atom37_idx[restype, 4 + chi],
                                    [rc.atom_order[n] for n in quad[1:]])
  flips = ours.restype_rigidgroup_ambiguity_rots
  ambiguous = ours.restype_rigidgroup_is_ambiguous.astype(bool)
  np.testing.assert_array_equal(flips[ambiguous], np.tile(np.diag([1., -1., -1.]), (4, 1, 1)))
  np.testing.assert_array_equal(flips[~ambiguous], np.tile(np.eye(3), ((~ambiguous).sum(), 1, 1)))


def test_default_frames_are_proper_rigid_transforms():
  frames = ours.restype_rigid_group_default_frame[:20].astype(np.float64)  # [20, 8, 4, 4]
  exists = np.concatenate([np.ones((20, 4), bool), np.asarray(rc.chi_angles_mask) > 0], -1)
  rot = frames[exists][:, :3, :3]  # [n_groups, 3, 3]
  np.testing.assert_allclose(np.einsum('nji,njk->nik', rot, rot),
                             np.broadcast_to(np.eye(3), rot.shape), atol=1e-6)
  np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-6)
  np.testing.assert_array_equal(frames[exists][:, 3, :],
                                np.broadcast_to([0, 0, 0, 1], (exists.sum(), 4)))
  assert not frames[~exists].any()  # absent chi groups (and UNK) have all-zero frames
  # Atoms sitting at a chi frame's origin: the axis end atom of that chi in the parent frame.
  for restype in range(20):
    resname = rc.restype_1to3[rc.restypes[restype]]
    local = {n: np.array(p) for n, _, p in rc.rigid_group_atom_positions[resname]}
    for chi, quad in enumerate(rc.chi_angles_atoms[resname]):
      np.testing.assert_allclose(frames[restype, 4 + chi, :3, 3], local[quad[2]], atol=1e-6)


def test_tables_are_read_only():
  for array in (ours.restype_atom14_mask, ours.restype_rigid_group_default_frame,
                ours.restype_atom14_to_atom37, ours.chi_atom_1_one_hot):
    with pytest.raises(ValueError):
      array[0, 0] = 7


@pytest.mark.parametrize('length', [3, 7, 13])
def test_sequence_to_onehot_matches_oracle(length):
  rng = np.random.default_rng(length)
  letters = list('ACDEFGHIKLMNPQRSTVWYXBZUJO')
  seq = ''.join(rng.choice(letters, size=length))
  for mapping in (rc.restype_order_with_x, rc.HHBLITS_AA_TO_ID):
    np.testing.assert_array_equal(ours.sequence_to_onehot(seq, mapping, map_unknown_to_x=True),
                                  rc.sequence_to_onehot(seq, mapping, map_unknown_to_x=True))
  std = ''.join(rng.choice(list(rc.restypes), size=length))
  got = ours.sequence_to_onehot(std, rc.restype_order)
  np.testing.assert_array_equal(got, rc.sequence_to_onehot(std, rc.restype_order))
  assert got.dtype == np.int32 and got.shape == (length, 20)


def test_sequence_to_onehot_errors_like_oracle():
  with pytest.raises(ValueError, match='without any gaps'):
    ours.sequence_to_onehot('AC', {'A': 0, 'C': 2})
  with pytest.raises(ValueError, match='Invalid character'):
    ours.sequence_to_onehot('Ac', rc.restype_order_with_x, map_unknown_to_x=True)
  with pytest.raises(KeyError):
    ours.sequence_to_onehot('AB', rc.restype_order)


def test_aatype_sequence_helpers_round_trip():
  rng = np.random.default_rng(0)
  aatype = rng.integers(0, 21, size=11)
  seq = residues.sequence_from_aatype(aatype)
  assert len(seq) == 11 and all(c == 'X' for c, a in zip(seq, aatype) if a == 20)
  np.testing.assert_array_equal(residues.aatype_from_sequence(seq), aatype)


def test_chi_angle_atom_and_atom_id_to_type():
  for which in range(4):
    assert_same(ours.chi_angle_atom(which), rc.chi_angle_atom(which), f'chi_angle_atom({which})')
  for name in ['N', 'CA', 'OG1', 'SD', 'HB2', 'NZ']:
    assert ours.atom_id_to_type(name) == rc.atom_id_to_type(name)
  with pytest.raises(ValueError):
    ours.atom_id_to_type('ZN')


def test_stereo_chemical_props_match_oracle():
  theirs = rc.load_stereo_chemical_props()
  mine = ours.load_stereo_chemical_props()
  for a, b, label in zip(mine, theirs, ('bonds', 'virtual_bonds', 'angles')):
    assert_same({k: [tuple(x) for x in v] for k, v in a.items()},
                {k: [tuple(x) for x in v] for k, v in b.items()}, label)
  # Callers get fresh containers: mutating one result must not leak into the next.
  mine[0]['ALA'].clear()
  assert ours.load_stereo_chemical_props()[0]['ALA']


@pytest.mark.parametrize('overlap,factor', [(1.5, 15), (0.7, 11), (2.3, 5)])
def test_make_atom14_dists_bounds_matches_oracle(overlap, factor):
  mine = ours.make_atom14_dists_bounds(overlap, factor)
  theirs = rc.make_atom14_dists_bounds(overlap, factor)
  assert_same(mine, theirs, 'bounds')


def test_nonbonded_table_is_symmetric():
  table = stereo_chemistry.load_nonbonded_min_distances()
  assert table[('C', 'N')] == table[('N', 'C')] == (3.25, 1.5)
  assert {e for pair in table for e in pair} == {'C', 'N', 'O', 'S'}


def test_topic_modules_are_the_facade_objects():
  assert ours.restypes is residues.restypes
  assert ours.atom_types is atoms.atom_types
  assert ours.rigid_group_atom_positions is rigid_groups.rigid_group_atom_positions
  assert ours.van_der_waals_radius is stereo_chemistry.van_der_waals_radius
