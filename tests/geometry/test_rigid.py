"""Rigid: group laws, conversions, broadcasting, backbone frames vs the AF2 oracle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.common import protein
from alphafold_jax.geometry import Rigid
from scipy.spatial.transform import Rotation
from tests.oracle import requires_oracle

pytestmark = requires_oracle


def _random_rigid(rng, shape):
  rot = Rotation.random(int(np.prod(shape)), random_state=rng).as_matrix().reshape(*shape, 3, 3)
  return Rigid(rot=jnp.asarray(rot, jnp.float32),
               trans=jnp.asarray(5. * rng.normal(size=(*shape, 3)), jnp.float32))


def _close(a: Rigid, b: Rigid, atol=1e-5):
  np.testing.assert_allclose(a.rot, b.rot, atol=atol)
  np.testing.assert_allclose(a.trans, b.trans, atol=atol)


def test_group_laws():
  rng = np.random.default_rng(0)
  shape = (5, 7)
  a, b, c = (_random_rigid(rng, shape) for _ in range(3))
  x = jnp.asarray(rng.normal(size=(*shape, 3)), jnp.float32)
  ident = Rigid.identity(shape)
  _close((a @ b) @ c, a @ (b @ c))  # associativity
  _close(a @ ident, a)
  _close(ident @ a, a)
  _close(a @ a.inverse(), ident)
  _close(a.inverse() @ a, ident)
  _close((a @ b).inverse(), b.inverse() @ a.inverse())
  # "a @ b" applies b first.
  np.testing.assert_allclose((a @ b).apply(x), a.apply(b.apply(x)), atol=1e-4)
  np.testing.assert_allclose(a.invert_apply(a.apply(x)), x, atol=1e-4)
  np.testing.assert_allclose(a.invert_rotate(a.rotate(x)), x, atol=1e-5)
  # apply is rot @ x + trans, rot's columns are the frame axes.
  np.testing.assert_allclose(a.apply(jnp.zeros(3)), a.trans, atol=1e-6)
  np.testing.assert_allclose(a.rotate(jnp.array([0., 1., 0.])), a.rot[..., :, 1], atol=1e-6)
  np.testing.assert_allclose(a.apply(x), np.einsum('...ij,...j->...i', a.rot, x) + a.trans,
                             atol=1e-5)
  # composition is not commutative (so a swapped order cannot pass).
  assert np.abs(np.asarray((a @ b).trans - (b @ a).trans)).max() > 1e-2


def test_tensor_layouts_roundtrip():
  r = _random_rigid(np.random.default_rng(1), (3, 5))
  m = r.to_tensor_4x4()
  assert m.shape == (3, 5, 4, 4)
  np.testing.assert_array_equal(m[..., 3, :], np.broadcast_to([0., 0., 0., 1.], (3, 5, 4)))
  _close(Rigid.from_tensor_4x4(m), r, atol=0)
  f = r.to_tensor_flat12()
  assert f.shape == (3, 5, 12)
  np.testing.assert_allclose(f[..., :9], r.rot.reshape(3, 5, 9))  # row-major rotation
  np.testing.assert_allclose(f[..., 1], r.rot[..., 0, 1])
  _close(Rigid.from_tensor_flat12(f), r, atol=0)
  # 4x4 composition equals matrix product.
  s = _random_rigid(np.random.default_rng(2), (3, 5))
  np.testing.assert_allclose((r @ s).to_tensor_4x4(), m @ s.to_tensor_4x4(), atol=1e-4)


def test_indexing_stack_map_broadcast():
  r = _random_rigid(np.random.default_rng(3), (11, 3))
  _close(r[2], Rigid(r.rot[2], r.trans[2]), atol=0)
  _close(r[:, 1], Rigid(r.rot[:, 1], r.trans[:, 1]), atol=0)
  st = Rigid.stack([r[0], r[1], r[2]], axis=-1)
  assert st.shape == (3, 3)
  _close(st[:, 1], r[1], atol=0)
  assert r.map(lambda x: x[:, None]).shape == (11, 1, 3)
  # broadcasting frames [11, 1] against points [11, 13, 3]
  pts = jnp.asarray(np.random.default_rng(4).normal(size=(11, 13, 3)), jnp.float32)
  out = r[:, 0][:, None].apply(pts)
  np.testing.assert_allclose(out[4, 7], r.rot[4, 0] @ pts[4, 7] + r.trans[4, 0], atol=1e-5)
  assert r.scale_translation(0.1).trans[3, 2, 0] == pytest.approx(float(r.trans[3, 2, 0]) * 0.1)
  # pytree: jit and vmap go through
  f = jax.jit(lambda q, p: q.apply(p))
  np.testing.assert_allclose(f(r, pts[:, :3]), r.apply(pts[:, :3]), atol=1e-5)
  g = jax.jit(jax.grad(lambda t, q: jnp.sum(q.stop_rot_gradient().apply(t)), argnums=(0, 1)))(
      pts[:, :3], r)
  np.testing.assert_allclose(g[1].rot, 0.)  # rotation gradient stopped
  assert np.abs(np.asarray(g[1].trans)).min() > 0.5 and np.isfinite(np.asarray(g[0])).all()


def _backbone(path):
  p = protein.from_file(path)
  ok = p.atom_mask[:, :3].all(-1)
  pos = p.atom_positions[ok]
  return p, ok, pos[:, 0], pos[:, 1], pos[:, 2]  # N, CA, C (atom37 order)


def test_from_three_points_and_backbone_vs_oracle(data_dir):
  from alphafold.model import all_atom, quat_affine, r3  # oracle, test-only

  p, ok, n, ca, c = _backbone(data_dir / 'structures/nano/1UBQ.pdb')
  # rigids_from_3_points with the same argument order (raw Gram-Schmidt).
  ours = Rigid.from_three_points(c, ca, n)
  ref = r3.rigids_from_3_points(r3.vecs_from_tensor(jnp.asarray(c)),
                                r3.vecs_from_tensor(jnp.asarray(ca)),
                                r3.vecs_from_tensor(jnp.asarray(n)))
  np.testing.assert_allclose(ours.to_tensor_flat12(), r3.rigids_to_tensor_flat12(ref), atol=1e-5)

  bb = Rigid.from_backbone(n, ca, c)
  rot = np.asarray(bb.rot)
  # orthonormal and right-handed
  np.testing.assert_allclose(np.einsum('nji,njk->nik', rot, rot),
                             np.broadcast_to(np.eye(3), rot.shape), atol=1e-5)
  np.testing.assert_allclose(np.linalg.det(rot), 1., atol=1e-5)
  np.testing.assert_allclose(np.cross(rot[:, :, 0], rot[:, :, 1]), rot[:, :, 2], atol=1e-5)

  # == backbone rigid group of atom37_to_frames
  frames = jax.jit(all_atom.atom37_to_frames)(
      aatype=jnp.asarray(p.aatype), all_atom_positions=jnp.asarray(p.atom_positions, jnp.float32),
      all_atom_mask=jnp.asarray(p.atom_mask, jnp.float32))
  gt = np.asarray(frames['rigidgroups_gt_frames'])[:, 0][np.asarray(ok)]  # [L, 12]
  np.testing.assert_allclose(bb.to_tensor_flat12(), gt, atol=1e-4)

  # == make_transform_from_reference (the backbone_affine label)
  rot_ref, trans_ref = quat_affine.make_transform_from_reference(
      n_xyz=jnp.asarray(n), ca_xyz=jnp.asarray(ca), c_xyz=jnp.asarray(c))
  np.testing.assert_allclose(bb.rot, rot_ref, atol=1e-4)
  np.testing.assert_allclose(bb.trans, trans_ref, atol=1e-4)


def test_backbone_local_geometry_and_chirality(data_dir):
  """C on +x, N in the xy-plane (y > 0), CB at z < 0 for L-residues (CONVENTIONS.md)."""
  p = protein.from_file(data_dir / 'structures/extra/1BPI.pdb')
  m = p.atom_mask
  ok = m[:, :4].all(-1)  # N, CA, C, CB present (excludes Gly)
  pos = p.atom_positions[ok]
  bb = Rigid.from_backbone(pos[:, 0], pos[:, 1], pos[:, 2])
  local = np.asarray(bb.invert_apply(jnp.asarray(pos[:, :4]).transpose(1, 0, 2)))  # [4, L, 3]
  n_l, ca_l, c_l, cb_l = local
  np.testing.assert_allclose(ca_l, 0., atol=1e-4)
  np.testing.assert_allclose(c_l[:, 1:], 0., atol=1e-4)
  assert (c_l[:, 0] > 1.3).all() and (c_l[:, 0] < 1.7).all()
  np.testing.assert_allclose(n_l[:, 2], 0., atol=1e-4)
  assert (n_l[:, 1] > 1.).all() and (n_l[:, 0] < 0.).all()
  assert (cb_l[:, 2] < -0.9).all(), 'L-amino acids put CB at negative z'
  # mirror image flips the sign
  mir = pos * np.array([1., 1., -1.])
  bbm = Rigid.from_backbone(mir[:, 0], mir[:, 1], mir[:, 2])
  assert (np.asarray(bbm.invert_apply(jnp.asarray(mir[:, 3])))[:, 2] > 0.9).all()


def test_from_three_points_degenerate_is_finite():
  z = jnp.zeros((3, 3))
  r = Rigid.from_three_points(z, z, z)
  assert np.isfinite(np.asarray(r.rot)).all()
  g = jax.jit(jax.grad(lambda x: jnp.sum(Rigid.from_backbone(x, x * 0, x * 2).rot)))(jnp.ones(3))
  assert np.isfinite(np.asarray(g)).all()
