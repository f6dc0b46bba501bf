"""Template torsion / pair features vs the AF2 oracle and vs geometry.

Oracle: `alphafold.model.all_atom.atom37_to_torsion_angles` / `atom37_to_frames` on real
proteins (tests/data/structures), the pair features captured at the input of the oracle's
`embedding2d` layer inside `SingleTemplateEmbedding`.
"""

import functools

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from alphafold_jax.model import embedders
from alphafold_jax.geometry import torsions as geometry_torsions
from alphafold_jax.model import template_features as tf
from tests.oracle import requires_oracle

pytestmark = requires_oracle

TOL = 1e-5
# Jitted once per process: eager dispatch of the many small ops is slow on a busy CPU.
torsions = jax.jit(geometry_torsions.atom37_to_torsion_angles, static_argnames='placeholder_for_undefined')


def _load(data_dir, name):
  prot = protein_lib.from_file(data_dir / 'structures' / 'nano' / name)
  return (np.asarray(prot.aatype), np.asarray(prot.atom_positions, np.float32),
          np.asarray(prot.atom_mask, np.float32))


def _damaged(aatype, pos, mask, seed):
  """Real structure with a missing residue, missing side-chain atoms and a missing O."""
  rng = np.random.default_rng(seed)
  pos, mask = pos.copy(), mask.copy()
  gone = rng.choice(np.arange(2, len(aatype) - 2), 2, replace=False)
  mask[gone] = 0.0
  for i in rng.choice(len(aatype), 6, replace=False):
    mask[i, rng.integers(5, 37)] = 0.0  # some side-chain slot
  mask[rng.integers(len(aatype)), rc.atom_order['O']] = 0.0
  pos = pos * mask[..., None]  # AF2 features hold zeros at missing atoms
  return aatype, pos, mask


def _oracle_torsions(aatype, pos, mask, placeholder):
  from alphafold.model import all_atom
  fn = jax.jit(functools.partial(all_atom.atom37_to_torsion_angles,
                                 placeholder_for_undefined=placeholder))
  out = fn(jnp.asarray(aatype)[None], jnp.asarray(pos)[None], jnp.asarray(mask)[None])
  return {k: np.asarray(v[0]) for k, v in out.items()}


def _degenerate(pos, aatype):
  """[N, 7] True where AF2's frame has a == b exactly (its output is rounding noise)."""
  idx = rc.chi_angles_atom_indices_with_unk[np.minimum(aatype, 20)]  # [N, 4, 4]
  prev = np.concatenate([np.zeros_like(pos[:1]), pos[:-1]], 0)
  n, ca, c, o = (rc.atom_order[x] for x in ('N', 'CA', 'C', 'O'))
  a = [prev[:, ca], prev[:, c], pos[:, n]] + [pos[np.arange(len(pos)), idx[:, k, 0]] for k in range(4)]
  b = [prev[:, c], pos[:, n], pos[:, ca]] + [pos[np.arange(len(pos)), idx[:, k, 1]] for k in range(4)]
  return np.stack([np.all(x == y, -1) for x, y in zip(a, b)], -1)


@pytest.mark.parametrize('name', ['1UBQ.pdb', '1CRN.pdb'])
@pytest.mark.parametrize('damage', [False, True])
def test_torsions_match_oracle_on_real_protein(data_dir, name, damage):
  aatype, pos, mask = _load(data_dir, name)
  if damage:
    aatype, pos, mask = _damaged(aatype, pos, mask, seed=len(aatype))
  ours = torsions(aatype, pos, mask)
  ref = _oracle_torsions(aatype, pos, mask, placeholder=False)
  np.testing.assert_array_equal(np.asarray(ours['torsion_angles_mask']), ref['torsion_angles_mask'])
  m = ref['torsion_angles_mask'] > 0
  assert m.sum() > 3 * len(aatype)  # backbone + many chis really compared
  well_posed = ~_degenerate(pos, aatype)
  assert (~well_posed[:, 0]).sum() >= 1 and well_posed[m].all()
  for key in ('torsion_angles_sin_cos', 'alt_torsion_angles_sin_cos'):
    diff = np.abs(np.asarray(ours[key]) - ref[key])  # [N, 7, 2]
    assert diff[m].max() <= TOL, (key, diff[m].max())
    # Masked but well-posed entries (zero pad atoms) also follow AF2's formula.
    assert diff[well_posed].max() <= 1e-4, (key, diff[well_posed].max())
    # Degenerate entries (a == b): AF2's real-number value is ~(0, 0); AF2 itself returns
    # rounding noise of unit length there.
    assert np.abs(np.asarray(ours[key])[~well_posed]).max() <= 0.05


@pytest.mark.parametrize('name', ['1UBQ.pdb'])
def test_torsions_with_placeholder_match_oracle_everywhere(data_dir, name):
  aatype, pos, mask = _damaged(*_load(data_dir, name), seed=3)
  ours = torsions(aatype, pos, mask, placeholder_for_undefined=True)
  ref = _oracle_torsions(aatype, pos, mask, placeholder=True)
  for key in ref:
    d = np.abs(np.asarray(ours[key]) - ref[key]).max()
    assert d <= TOL, (key, d)


def test_torsions_equal_standard_dihedral_and_are_rigid_invariant():
  rng = np.random.default_rng(0)
  n_res = 11
  pos = rng.normal(size=(n_res, 37, 3)).astype(np.float32) * 3
  mask = np.ones((n_res, 37), np.float32)
  aatype = rng.integers(0, 21, n_res)
  out = torsions(aatype, pos, mask)
  # psi from N, CA, C, O (AF2 mirrors it by pi): IUPAC dihedral + pi, where
  # dihedral(p0..p3) = atan2(|b1| b0 . (b1 x b2), (b0 x b1) . (b1 x b2)), b_k = p_{k+1} - p_k.
  n, ca, c, o = (rc.atom_order[x] for x in ('N', 'CA', 'C', 'O'))
  b0, b1, b2 = pos[:, ca] - pos[:, n], pos[:, c] - pos[:, ca], pos[:, o] - pos[:, c]
  y = np.linalg.norm(b1, axis=-1) * np.sum(b0 * np.cross(b1, b2), -1)
  x = np.sum(np.cross(b0, b1) * np.cross(b1, b2), -1)
  dihedral = np.arctan2(y, x)
  psi = out['torsion_angles_sin_cos'][:, 2]  # [N, 2]
  np.testing.assert_allclose(psi[:, 0], np.sin(dihedral + np.pi), atol=1e-5)
  np.testing.assert_allclose(psi[:, 1], np.cos(dihedral + np.pi), atol=1e-5)
  # Invariance under a proper rigid motion; a reflection flips the sines.
  q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
  q = q * np.sign(np.linalg.det(q))
  moved = pos @ q.T + np.array([5., -3., 7.])
  out2 = torsions(aatype, moved.astype(np.float32), mask)
  m = out['torsion_angles_mask'][..., None] > 0
  np.testing.assert_allclose(out2['torsion_angles_sin_cos'] * m,
                             out['torsion_angles_sin_cos'] * m, atol=2e-5)
  mirrored = torsions(aatype, (pos * np.array([1., 1., -1.])).astype(np.float32), mask)
  np.testing.assert_allclose(mirrored['torsion_angles_sin_cos'][..., 0] * m[..., 0],
                             -out['torsion_angles_sin_cos'][..., 0] * m[..., 0], atol=2e-5)


def test_helix_phi_psi_of_ubiquitin(data_dir):
  """Ubiquitin's helix (residues 24-33) has phi ~ -63 deg and psi ~ -41 deg."""
  aatype, pos, mask = _load(data_dir, '1UBQ.pdb')
  sc = np.asarray(torsions(aatype, pos, mask)['torsion_angles_sin_cos'])
  helix = slice(23, 33)
  phi = np.degrees(np.arctan2(sc[helix, 1, 0], sc[helix, 1, 1]))
  psi = np.degrees(np.arctan2(sc[helix, 2, 0], sc[helix, 2, 1]))
  omega = np.degrees(np.arctan2(sc[1:, 0, 0], sc[1:, 0, 1]))
  assert -80 < phi.mean() < -50 and -55 < psi.mean() < -25, (phi, psi)
  assert np.all(np.abs(omega) > 150)  # trans peptides


def test_torsions_batch_dims_and_gradients(data_dir):
  aatype, pos, mask = _load(data_dir, '1CRN.pdb')
  pos, mask = pos[:13], mask[:13]
  aatype = aatype[:13]
  batched = torsions(np.stack([aatype, aatype[::-1]]),
                                        np.stack([pos, pos[::-1]]), np.stack([mask, mask[::-1]]))
  single = torsions(aatype[::-1], pos[::-1], mask[::-1])
  for k in single:
    np.testing.assert_allclose(batched[k][1], single[k], atol=1e-6)

  def loss(p):
    out = geometry_torsions.atom37_to_torsion_angles(aatype, p, mask)
    return jnp.sum(out['torsion_angles_sin_cos'] * jnp.arange(14.).reshape(7, 2))

  g = jax.jit(jax.grad(loss))(jnp.asarray(pos * mask[..., None]))
  assert np.all(np.isfinite(np.asarray(g))) and np.abs(np.asarray(g)).max() > 0


def test_torsion_input_errors():
  with pytest.raises(ValueError, match='37, 3'):
    torsions(np.zeros(3, int), np.zeros((3, 14, 3)), np.zeros((3, 14)))
  with pytest.raises(ValueError, match='mask'):
    torsions(np.zeros(3, int), np.zeros((3, 37, 3)), np.zeros((3, 36)))


def test_backbone_frames_match_oracle_gt_frames(data_dir):
  from alphafold.model import all_atom
  aatype, pos, mask = _damaged(*_load(data_dir, '1UBQ.pdb'), seed=5)
  frames, fmask = tf.backbone_frames(jnp.asarray(pos), jnp.asarray(mask))
  ref = jax.jit(all_atom.atom37_to_frames)(jnp.asarray(aatype), jnp.asarray(pos), jnp.asarray(mask))
  ref_flat = np.asarray(ref['rigidgroups_gt_frames'])[:, 0]  # [N, 12] (rot row-major, trans)
  ref_mask = np.asarray(ref['rigidgroups_gt_exists'])[:, 0]
  np.testing.assert_array_equal(np.asarray(fmask), ref_mask)
  ok = ref_mask > 0
  d = np.abs(np.asarray(frames.to_tensor_flat12()) - ref_flat)[ok].max()
  assert d <= TOL, d


def _template_batch(rng, num_templ, num_res, data_pos=None):
  aatype = rng.integers(0, 22, (num_templ, num_res))
  pos = rng.normal(size=(num_templ, num_res, 37, 3)).astype(np.float32) * 4
  mask = (rng.random((num_templ, num_res, 37)) > 0.15).astype(np.float32)
  pb, pb_mask = embedders.pseudo_beta_fn(jnp.asarray(aatype), jnp.asarray(pos), jnp.asarray(mask))
  return {
      'template_aatype': aatype, 'template_all_atom_positions': pos,
      'template_all_atom_masks': mask, 'template_pseudo_beta': np.asarray(pb),
      'template_pseudo_beta_mask': np.asarray(pb_mask),
      'template_mask': np.ones(num_templ, np.float32),
  }


@pytest.mark.parametrize('unit_vector', [False, True])
def test_template_pair_features_match_oracle_embedding2d_input(unit_vector):
  from alphafold.model import config as oracle_config
  from alphafold.model import modules
  cfg = oracle_config.model_config('model_1_ptm')
  gc = cfg.model.global_config
  gc.bfloat16 = False
  tcfg = cfg.model.embeddings_and_evoformer.template
  tcfg.use_template_unit_vector = unit_vector
  tcfg.template_pair_stack.num_block = 0
  rng = np.random.default_rng(7)
  batch = {k: v[0] for k, v in _template_batch(rng, 1, 7).items() if k != 'template_mask'}
  captured = {}

  def interceptor(next_f, args, kwargs, context):
    if context.method_name == '__call__' and context.module.module_name.endswith('embedding2d'):
      captured['x'] = args[0]
    return next_f(*args, **kwargs)

  def fwd():
    with hk.intercept_methods(interceptor):
      modules.SingleTemplateEmbedding(tcfg, gc)(
          jnp.zeros((7, 7, 128)), batch, jnp.ones((7, 7)), is_training=False)
    return captured['x']

  fwd = hk.transform(fwd)
  key = jax.random.PRNGKey(0)
  ref = jax.jit(fwd.apply)(jax.jit(fwd.init)(key), key)
  bins = embedders.DistogramBins(min_bin=3.25, max_bin=50.75, num_bins=39)
  ours = jax.jit(functools.partial(tf.template_pair_features, dgram_bins=bins,
                                   use_unit_vector=unit_vector))(batch)
  assert ours.shape == ref.shape == (7, 7, 88)
  d = float(jnp.abs(ours - ref).max())
  assert d <= TOL, d
  if unit_vector:
    assert float(jnp.abs(ours[..., 83:86]).max()) > 0.5


def test_template_single_features_shapes_and_mask():
  rng = np.random.default_rng(1)
  batch = _template_batch(rng, 3, 5)
  feats, row_mask = jax.jit(tf.template_single_features)(batch)
  assert feats.shape == (3, 5, tf.NUM_TEMPLATE_SINGLE_FEATURES) and row_mask.shape == (3, 5)
  tors = torsions(batch['template_aatype'], batch['template_all_atom_positions'],
                                     batch['template_all_atom_masks'])
  np.testing.assert_array_equal(row_mask, tors['torsion_angles_mask'][..., 2])
  np.testing.assert_array_equal(feats[..., :22], jax.nn.one_hot(batch['template_aatype'], 22))
  np.testing.assert_array_equal(feats[..., 50:], tors['torsion_angles_mask'])
