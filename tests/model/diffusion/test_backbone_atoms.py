"""Backbone atoms N, CA, C, O, CB from frames (model/diffusion/backbone.frames_to_atom37):
rebuilt from a crystal's own frames (1CRN) they match the crystal; ideal bond lengths;
padding, residue types and rigid motions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from alphafold_jax.geometry import rotation
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model.diffusion import backbone

N, CA, C, O, CB = (rc.atom_order[a] for a in ('N', 'CA', 'C', 'O', 'CB'))
build = jax.jit(backbone.frames_to_atom37)


@pytest.fixture(scope='module')
def crambin(data_dir):
  prot = protein_lib.from_pdb_string((data_dir / 'structures' / 'nano' / '1CRN.pdb').read_text())
  x = prot.atom_positions  # [46, 37, 3]
  frames = Rigid.from_backbone(jnp.asarray(x[:, N]), jnp.asarray(x[:, CA]), jnp.asarray(x[:, C]))
  pos, mask = build(frames, jnp.asarray(prot.aatype))
  return prot, frames, np.asarray(pos), np.asarray(mask)


def _rms(a, b):
  return float(np.sqrt(np.mean(np.sum(np.square(a - b), -1))))


def test_crystal_backbone_rebuilt_from_its_frames(crambin):
  prot, _, pos, mask = crambin
  x, m = prot.atom_positions, prot.atom_mask
  assert np.all(m[:, [N, CA, C, O]] == 1)
  assert _rms(pos[:, [N, CA, C]], x[:, [N, CA, C]]) <= 0.1  # measured 0.043
  # O from psi computed with N(i+1): close to the crystal's O except the C-terminal residue,
  # whose psi is borrowed from its predecessor.
  assert _rms(pos[:-1, O], x[:-1, O]) <= 0.2  # measured ~0.09
  has_cb = m[:, CB] > 0
  assert np.array_equal(mask[:, CB] > 0, has_cb)  # crambin's GLYs: no CB
  assert _rms(pos[has_cb, CB], x[has_cb, CB]) <= 0.15  # measured 0.09
  # Only N, CA, C, O, CB are placed.
  others = np.ones(37, bool)
  others[[N, CA, C, O, CB]] = False
  assert not mask[:, others].any() and not pos[:, others].any()


def test_bond_lengths_are_af2_ideal(crambin):
  prot, _, pos, mask = crambin

  def dist(a, b):
    return np.linalg.norm(pos[:, a] - pos[:, b], axis=-1)

  lit = {(r, a): np.linalg.norm(xyz) for r, atoms in rc.rigid_group_atom_positions.items()
         for a, _, xyz in atoms}
  names = [rc.restype_1to3[rc.restypes[t]] for t in prot.aatype]
  np.testing.assert_allclose(dist(N, CA), [lit[(r, 'N')] for r in names], atol=1e-3)
  np.testing.assert_allclose(dist(CA, C), [lit[(r, 'C')] for r in names], atol=1e-3)
  np.testing.assert_allclose(dist(C, O), [lit[(r, 'O')] for r in names], atol=1e-3)
  # Engh & Huber means (AF2's idealised values vary by residue type by < 0.01 A).
  assert np.all(np.abs(dist(N, CA) - 1.458) < 0.008)
  assert np.all(np.abs(dist(CA, C) - 1.525) < 0.009)
  assert np.all(np.abs(dist(C, O) - 1.231) < 0.01)
  peptide = np.linalg.norm(pos[1:, N] - pos[:-1, C], axis=-1)  # the crystal's own C-N
  assert np.median(np.abs(peptide - 1.329)) < 0.05


def test_padding_types_and_rigid_motion(crambin):
  prot, frames, pos, mask = crambin
  n = frames.shape[0]
  # Padding: three masked residues after the chain leave the real atoms unchanged (the last
  # real residue's psi must not use the padding's N) and are all zero.
  pad = 3
  padded = Rigid(rot=jnp.concatenate([frames.rot, jnp.broadcast_to(jnp.eye(3), (pad, 3, 3))]),
                 trans=jnp.concatenate([frames.trans, 5. * jnp.ones((pad, 3))]))
  aatype = jnp.concatenate([jnp.asarray(prot.aatype), jnp.zeros((pad,), jnp.int32)])
  seq_mask = jnp.concatenate([jnp.ones((n,)), jnp.zeros((pad,))])
  p_pos, p_mask = build(padded, aatype, seq_mask)
  np.testing.assert_allclose(np.asarray(p_pos[:n]), pos, atol=1e-4)
  np.testing.assert_array_equal(np.asarray(p_mask[:n]), mask)
  assert not np.asarray(p_pos[n:]).any() and not np.asarray(p_mask[n:]).any()
  # A global rigid motion of the frames moves every atom by it.
  key = jax.random.PRNGKey(3)
  g = Rigid(rot=rotation.random_rotation(key, ()), trans=jnp.array([3., -7., 11.]))
  moved, _ = build(g.map(lambda v: v[None]) @ frames,
                                       jnp.asarray(prot.aatype))
  expected = np.asarray(g.map(lambda v: v[None, None]).apply(jnp.asarray(pos))) * mask[..., None]
  np.testing.assert_allclose(np.asarray(moved), expected, atol=2e-4)
  # GLY: no CB; X (20): N, CA, C, O with ALA geometry, no CB.
  types = jnp.array([rc.restype_order['G'], 20, rc.restype_order['A']])
  t_pos, t_mask = build(frames[:3], types)
  assert t_mask[0, CB] == 0 and t_mask[1, CB] == 0 and t_mask[2, CB] == 1
  assert np.all(np.asarray(t_mask[:, [N, CA, C, O]]) == 1)
  np.testing.assert_allclose(np.asarray(t_pos[1, [N, C, O]]),
                             np.asarray(build(
                                 frames[:3], types.at[1].set(0))[0][1, [N, C, O]]), atol=1e-6)
