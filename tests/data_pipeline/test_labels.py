"""Structure labels (data_pipeline.labels) against the AF2 oracle on real proteins."""

import ast
import pathlib

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from data_pipeline import frames
from data_pipeline import labels
from tests.oracle import requires_oracle

pytestmark = requires_oracle

# Real structures: crambin, ubiquitin, 1LNI (27 altlocs), 7RSA, 4ICB (altlocs,
# residue 0), myoglobin mmCIF (hetero groups, residue 0).
STRUCTURES = ('nano/1CRN.pdb', 'nano/1UBQ.pdb', 'extra/1LNI.pdb',
              'extra/7RSA.pdb', 'extra/4ICB.pdb', 'extra/102M.cif')


def _load(data_dir, name):
  return protein_lib.from_file(data_dir / 'structures' / name)


def _random_structure(rng, num_res):
  """Random atom37 arrays with random missing atoms and UNK residues."""
  aatype = rng.integers(0, 21, size=num_res).astype(np.int32)
  positions = rng.normal(scale=5., size=(num_res, 37, 3)).astype(np.float32)
  mask = (rng.uniform(size=(num_res, 37)) < 0.8).astype(np.float32)
  positions = positions * mask[..., None]
  return aatype, positions, mask


def _oracle_frames_and_torsions(aatype, positions, mask, placeholder=False):
  """alphafold.model.all_atom in float64 (jax x64, jitted) on the same inputs."""
  import functools
  import jax
  import jax.numpy as jnp
  from alphafold.model import all_atom
  with jax.enable_x64(True):
    pos = jnp.asarray(positions, jnp.float64)
    msk = jnp.asarray(mask, jnp.float64)
    rigid = jax.jit(all_atom.atom37_to_frames)(jnp.asarray(aatype), pos, msk)
    torsion_fn = functools.partial(all_atom.atom37_to_torsion_angles,
                                   placeholder_for_undefined=placeholder)
    tors = jax.jit(torsion_fn)(jnp.asarray(aatype)[None], pos[None], msk[None])
    rigid = {k: np.asarray(v) for k, v in rigid.items()}
    tors = {k: np.asarray(v)[0] for k, v in tors.items()}
  return rigid, tors


def _oracle_make_atom14_positions():
  """AF2's NumPy make_atom14_positions (alphafold/relax/amber_minimize.py).

  That module imports openmm/pdbfixer at top level (not installed), so only the
  function's own source is compiled, with its two free names bound.
  """
  import alphafold
  from alphafold.common import residue_constants
  path = pathlib.Path(alphafold.__file__).parent / 'relax' / 'amber_minimize.py'
  tree = ast.parse(path.read_text())
  fn = next(node for node in tree.body if isinstance(node, ast.FunctionDef)
            and node.name == 'make_atom14_positions')
  namespace = {'np': np, 'residue_constants': residue_constants}
  exec(compile(ast.Module(body=[fn], type_ignores=[]), str(path), 'exec'), namespace)
  return namespace['make_atom14_positions']


def _max_diff(a, b):
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


@pytest.fixture(scope='module')
def all_structures(data_dir):
  """The STRUCTURES concatenated residue-wise (one oracle call covers them all)."""
  prots = [_load(data_dir, name) for name in STRUCTURES]
  aatype = np.concatenate([p.aatype for p in prots])
  positions = np.concatenate([p.atom_positions for p in prots])
  mask = np.concatenate([p.atom_mask for p in prots])
  return prots, aatype, positions, mask


def test_frames_and_torsions_match_oracle(all_structures):
  prots, aatype, positions, mask = all_structures
  num_res = aatype.shape[0]
  ours = labels.make_structure_labels(aatype, positions, mask)
  rigid, tors = _oracle_frames_and_torsions(aatype, positions, mask)
  for key in ('rigidgroups_gt_frames', 'rigidgroups_alt_gt_frames'):
    assert ours[key].shape == (num_res, 8, 12)
    assert _max_diff(ours[key], rigid[key]) < 1e-5, key
  for key in ('rigidgroups_gt_exists', 'rigidgroups_group_exists',
              'rigidgroups_group_is_ambiguous', 'torsion_angles_mask'):
    np.testing.assert_array_equal(ours[key], {**rigid, **tors}[key], err_msg=key)
  for key in ('torsion_angles_sin_cos', 'alt_torsion_angles_sin_cos'):
    assert ours[key].shape == (num_res, 7, 2)
    assert _max_diff(ours[key], tors[key]) < 1e-5, key
  # Chi labels are the last four torsions; angles are their atan2.
  np.testing.assert_array_equal(ours['chi_mask'], tors['torsion_angles_mask'][:, 3:])
  assert _max_diff(ours['chi_angles_sin_cos'], tors['torsion_angles_sin_cos'][:, 3:]) < 1e-5
  chi = np.arctan2(tors['torsion_angles_sin_cos'][:, 3:, 0],
                   tors['torsion_angles_sin_cos'][:, 3:, 1])
  wrapped = np.angle(np.exp(1j * (ours['chi_angles'] - chi)))
  assert np.max(np.abs(wrapped) * ours['chi_mask']) < 1e-4
  assert ours['chi_mask'].sum() > 0 and ours['rigidgroups_group_is_ambiguous'].sum() > 0

  # Per structure, labels equal the concatenated ones (frames are per residue;
  # only the first residue's pre-omega / phi see the previous chain).
  start = 0
  for prot in prots:
    window = slice(start, start + prot.num_residues)
    single = labels.labels_from_protein(prot)
    np.testing.assert_array_equal(single['rigidgroups_gt_frames'],
                                  ours['rigidgroups_gt_frames'][window])
    np.testing.assert_array_equal(single['torsion_angles_sin_cos'][1:],
                                  ours['torsion_angles_sin_cos'][window][1:])
    np.testing.assert_array_equal(single['torsion_angles_mask'][0, :2], [0., 0.])
    start += prot.num_residues


@pytest.mark.parametrize('name', STRUCTURES)
def test_atom14_labels_and_pseudo_beta_match_oracle(data_dir, name):
  from alphafold.model.tf import data_transforms
  prot = _load(data_dir, name)
  ours = labels.make_structure_labels(prot.aatype, prot.atom_positions, prot.atom_mask)
  oracle = _oracle_make_atom14_positions()({
      'aatype': np.asarray(prot.aatype), 'all_atom_positions': prot.atom_positions,
      'all_atom_mask': prot.atom_mask})
  for key in ('atom14_atom_exists', 'atom14_gt_exists', 'atom14_alt_gt_exists',
              'atom14_atom_is_ambiguous', 'residx_atom14_to_atom37',
              'residx_atom37_to_atom14', 'atom37_atom_exists'):
    np.testing.assert_array_equal(ours[key], oracle[key], err_msg=key)
  for key in ('atom14_gt_positions', 'atom14_alt_gt_positions'):
    assert _max_diff(ours[key], oracle[key]) < 1e-5, key
  # Renaming really happens on this protein (ASP/GLU/PHE/TYR present).
  assert _max_diff(ours['atom14_gt_positions'], ours['atom14_alt_gt_positions']) > 1.

  masks = data_transforms.make_atom14_masks({'aatype': np.asarray(prot.aatype)})
  for key in ('atom14_atom_exists', 'residx_atom14_to_atom37',
              'residx_atom37_to_atom14', 'atom37_atom_exists'):
    np.testing.assert_array_equal(ours[key], np.asarray(masks[key]), err_msg=key)

  beta, beta_mask = data_transforms.pseudo_beta_fn(
      np.asarray(prot.aatype), prot.atom_positions, prot.atom_mask)
  np.testing.assert_array_equal(ours['pseudo_beta'], np.asarray(beta))
  np.testing.assert_array_equal(ours['pseudo_beta_mask'], np.asarray(beta_mask))


def test_structures_with_missing_atoms_are_masked(data_dir):
  """1LNI / 7RSA / 4ICB have unresolved side-chain atoms: labels must mask them."""
  missing = 0
  for name in ('extra/1LNI.pdb', 'extra/7RSA.pdb', 'extra/4ICB.pdb', 'extra/102M.cif'):
    prot = _load(data_dir, name)
    lab = labels.labels_from_protein(prot)
    gap = lab['atom14_atom_exists'] - lab['atom14_gt_exists']
    assert gap.min() >= 0
    missing += int(gap.sum())
    assert np.all(lab['atom14_gt_positions'][lab['atom14_gt_exists'] == 0] == 0)
    # A group whose base atoms are missing has no ground truth frame.
    assert np.all(lab['rigidgroups_gt_exists'] <= lab['rigidgroups_group_exists'])
  assert missing > 0


def test_random_structures_match_oracle_everywhere():
  """Random coordinates, 20 % missing atoms, UNK residues, placeholder torsions: every entry."""
  rng = np.random.default_rng(7)
  for num_res in (11,):
    aatype, positions, mask = _random_structure(rng, num_res)
    ours = labels.make_structure_labels(aatype, positions, mask)
    rigid, tors = _oracle_frames_and_torsions(aatype, positions, mask, placeholder=True)
    mine = labels.atom37_to_torsion_angles(aatype, positions, mask,
                                           placeholder_for_undefined=True)
    for key, value in tors.items():
      assert _max_diff(mine[key], value) < 1e-5, key
    for key, value in rigid.items():
      assert _max_diff(ours[key], value) < 1e-5, key
    oracle = _oracle_make_atom14_positions()({
        'aatype': aatype, 'all_atom_positions': positions, 'all_atom_mask': mask})
    for key in ('atom14_gt_positions', 'atom14_alt_gt_positions', 'atom14_gt_exists',
                'atom14_alt_gt_exists'):
      assert _max_diff(ours[key], oracle[key]) < 1e-5, key


def test_backbone_affine_is_the_backbone_frame(data_dir):
  """backbone_affine_tensor read by AF2's QuatAffine gives rigidgroups_gt_frames[:, 0]."""
  import jax.numpy as jnp
  from alphafold.model import quat_affine
  prot = _load(data_dir, 'extra/7RSA.pdb')
  lab = labels.labels_from_protein(prot, resolution=1.26)
  affine = quat_affine.QuatAffine.from_tensor(jnp.asarray(lab['backbone_affine_tensor']))
  rot = np.stack([np.stack(row, -1) for row in affine.rotation], -2)  # [L, 3, 3]
  trans = np.stack(affine.translation, -1)  # [L, 3]
  gt_rot, gt_trans = frames.from_flat12(lab['rigidgroups_gt_frames'][:, 0])
  assert _max_diff(rot, gt_rot) < 1e-5
  np.testing.assert_array_equal(trans, gt_trans)
  np.testing.assert_array_equal(lab['backbone_affine_mask'],
                                lab['rigidgroups_gt_exists'][:, 0])
  # Backbone frame convention: x from CA towards C, N in the xy plane (y > 0).
  ca = prot.atom_positions[:, 1]
  local_c = frames.invert_apply(gt_rot, gt_trans, prot.atom_positions[:, 2])
  local_n = frames.invert_apply(gt_rot, gt_trans, prot.atom_positions[:, 0])
  np.testing.assert_allclose(gt_trans, ca, atol=1e-6)
  assert np.all(local_c[:, 0] > 1.) and np.all(np.abs(local_c[:, 1:]) < 1e-4)
  assert np.all(local_n[:, 1] > 0.) and np.all(np.abs(local_n[:, 2]) < 1e-4)
  assert lab['resolution'].shape == () and lab['resolution'] == np.float32(1.26)


def test_labels_move_with_a_global_rigid_motion(data_dir):
  """Frames are equivariant, torsions invariant under rotation + translation."""
  rng = np.random.default_rng(3)
  prot = _load(data_dir, 'nano/1CRN.pdb')
  q = rng.normal(size=4)
  rot = frames.quaternion_to_rot(q / np.linalg.norm(q))
  shift = rng.normal(scale=10., size=3)
  moved = (np.einsum('ij,raj->rai', rot, prot.atom_positions) + shift) * prot.atom_mask[..., None]
  a = labels.make_structure_labels(prot.aatype, prot.atom_positions, prot.atom_mask)
  b = labels.make_structure_labels(prot.aatype, moved, prot.atom_mask)
  defined = a['torsion_angles_mask'] > 0
  assert defined.sum() > 100
  assert _max_diff(a['torsion_angles_sin_cos'][defined],
                   b['torsion_angles_sin_cos'][defined]) < 1e-4
  ra, ta = frames.from_flat12(a['rigidgroups_gt_frames'])
  rb, tb = frames.from_flat12(b['rigidgroups_gt_frames'])
  exists = a['rigidgroups_gt_exists'] > 0
  assert _max_diff(np.einsum('ij,rgjk->rgik', rot, ra)[exists], rb[exists]) < 1e-4
  assert _max_diff((np.einsum('ij,rgj->rgi', rot, ta) + shift)[exists], tb[exists]) < 1e-3


def test_quaternion_round_trip_including_half_turns():
  rng = np.random.default_rng(11)
  q = rng.normal(size=(13, 4))
  q /= np.linalg.norm(q, axis=-1, keepdims=True)
  q[:3, 0] = 0.  # 180-degree rotations, where naive trace formulas break
  q[:3] /= np.linalg.norm(q[:3], axis=-1, keepdims=True)
  rot = frames.quaternion_to_rot(q)
  back = frames.rot_to_quaternion(rot)
  assert np.all(back[:, 0] >= 0)
  assert _max_diff(frames.quaternion_to_rot(back), rot) < 1e-9
  assert np.all(np.abs(np.abs(np.sum(back * q, -1)) - 1.) < 1e-9)


def test_bad_inputs_raise_clear_errors():
  rng = np.random.default_rng(0)
  aatype, positions, mask = _random_structure(rng, 5)
  bad_type = aatype.copy()
  bad_type[3] = 21
  with pytest.raises(labels.LabelError, match='aatype 21 at residue 3'):
    labels.make_structure_labels(bad_type, positions, mask)
  with pytest.raises(labels.LabelError, match=r'\[5, 37, 3\]'):
    labels.make_structure_labels(aatype, positions[:, :14], mask)
  nan_pos = positions.copy()
  nan_pos[2, 1, 0] = np.nan
  with pytest.raises(labels.LabelError, match='residue 2'):
    labels.make_structure_labels(aatype, nan_pos, mask)
  with pytest.raises(ValueError, match='no residues'):
    labels.make_structure_labels(aatype[:0], positions[:0], mask[:0])
