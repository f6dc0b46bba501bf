"""Structure module (Suppl. Alg. 20/23/24) vs the alphafold oracle, plus properties.

Oracle = `alphafold.model.folding.StructureModule` (test tool only) at model_1_ptm widths,
random parameters for every leaf (AF2's zero-initialised layers are live), padded inputs.
"""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.geometry import quaternion
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model import all_atom
from alphafold_jax.model import structure_module as sm
from tests.oracle import requires_oracle
from tests.random_params import random_params

pytestmark = requires_oracle

N_RES, N_PAD = 11, 2  # the last 2 residues are padding
C_S, C_Z = 384, 128
CFG = sm.StructureModuleConfig()
GC = GlobalConfig(deterministic=True)


def _oracle_config():
  from alphafold.model import config
  cfg = config.model_config('model_1_ptm')
  cfg.model.global_config.bfloat16 = False
  cfg.model.global_config.deterministic = True
  return cfg.model.heads.structure_module, cfg.model.global_config


def _oracle_batch(aatype, seq_mask):
  """AF2's batch features for the structure module, built with the oracle's constants."""
  from alphafold.common import residue_constants as orc
  table = np.zeros((21, 37), np.int32)  # atom37 -> atom14 index per restype
  for r, one in enumerate(orc.restypes):
    for a14, name in enumerate(orc.restype_name_to_atom14_names[orc.restype_1to3[one]]):
      if name:
        table[r, orc.atom_order[name]] = a14
  return {
      'seq_mask': seq_mask,
      'aatype': aatype,
      'atom14_atom_exists': jnp.asarray(orc.restype_atom14_mask)[aatype],
      'atom37_atom_exists': jnp.asarray(orc.restype_atom37_mask)[aatype],
      'residx_atom37_to_atom14': jnp.asarray(table)[aatype],
  }


def _sm_params(shapes, seed):
  # affine_update weights x0.1: ~1 A and ~10 degree steps per layer, protein-like spreads.
  return random_params(shapes, seed, gains={'affine_update': 0.1})


def _inputs(seed, n=N_RES, n_pad=N_PAD):
  rng = np.random.default_rng(seed)
  single = jnp.asarray(rng.normal(size=(n, C_S)), jnp.float32)
  pair = jnp.asarray(rng.normal(size=(n, n, C_Z)), jnp.float32)
  aatype = jnp.asarray(np.r_[rng.permutation(20)[:n - n_pad - 1], 20,
                             rng.integers(0, 21, n_pad)], jnp.int32)  # incl. UNK
  seq_mask = jnp.asarray(np.r_[np.ones(n - n_pad), np.zeros(n_pad)], jnp.float32)
  return single, pair, aatype, seq_mask


def _loss_weights(seed):
  rng = np.random.default_rng(seed)
  f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)
  L = CFG.num_layer
  return {'pos': f(N_RES, 37, 3), 'trans': f(L, N_RES, 3), 'rot': f(L, N_RES, 3, 3),
          'angles': f(L, N_RES, 7, 2), 'act': f(N_RES, CFG.num_channel)}


def _loss(pos, traj, angles, act, w, seq_mask):
  m = seq_mask
  return (jnp.sum(w['pos'] * pos * m[:, None, None]) +
          jnp.sum(w['trans'] * traj.trans * m[None, :, None]) +
          10 * jnp.sum(w['rot'] * traj.rot * m[None, :, None, None]) +
          10 * jnp.sum(w['angles'] * angles * m[None, :, None, None]) +
          jnp.sum(w['act'] * act * m[:, None]))


def _ours_module(single, pair, aatype, seq_mask):
  return sm.StructureModule(CFG, GC)(single, pair, aatype, seq_mask, is_training=False)


_ours = hk.transform(_ours_module)


def _oracle_module(single, pair, aatype, seq_mask):
  from alphafold.model import folding
  cfg, gc = _oracle_config()
  return folding.StructureModule(cfg, gc)(
      {'single': single, 'pair': pair}, _oracle_batch(aatype, seq_mask), is_training=False)


_oracle = hk.transform(_oracle_module)


def _oracle_traj_rigid(traj):
  from alphafold.model import quat_affine
  rot = quat_affine.quat_to_rot(traj[..., :4])  # quaternions are unit already
  return Rigid(rot=jnp.stack([jnp.stack(r, -1) for r in rot], -2), trans=traj[..., 4:])


@jax.jit
def _ours_value_and_grad(params, inputs, w):
  def f(p):
    out = _ours.apply(p, None, *inputs)
    loss = _loss(out['final_atom_positions'], out['traj'],
                 out['sidechains']['angles_sin_cos'], out['act'], w, inputs[3])
    return loss, out
  return jax.value_and_grad(f, has_aux=True)(params)


@jax.jit
def _oracle_value_and_grad(params, inputs, w):
  def f(p):
    out = _oracle.apply(p, jax.random.PRNGKey(0), *inputs)
    loss = _loss(out['final_atom_positions'], _oracle_traj_rigid(out['traj']),
                 out['sidechains']['angles_sin_cos'],
                 out['representations']['structure_module'], w, inputs[3])
    return loss, out
  return jax.value_and_grad(f, has_aux=True)(params)


@pytest.fixture(scope='module')
def setup():
  inputs = _inputs(0)
  shapes = jax.eval_shape(_oracle.init, jax.random.PRNGKey(0), *inputs)
  params = _sm_params(shapes, 1)
  w = _loss_weights(2)
  (loss, out), grads = _ours_value_and_grad(params, inputs, w)
  return shapes, params, inputs, w, out, grads


def _maxdiff(a, b):
  return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def test_param_tree_matches_oracle(setup):
  shapes = setup[0]
  ours = jax.eval_shape(_ours.init, jax.random.PRNGKey(0), *setup[2])
  as_shapes = lambda t: {f'{m}/{n}': v.shape for m, d in t.items() for n, v in d.items()}
  assert as_shapes(ours) == as_shapes(shapes)
  assert len(as_shapes(ours)) == 45  # every AF2 structure-module leaf, nothing extra


def test_matches_oracle_values_and_grads(setup):
  _, params, inputs, w, out, grads = setup
  (_, ref), ref_grads = _oracle_value_and_grad(params, inputs, w)
  m = np.asarray(inputs[3], bool)
  ref_traj = _oracle_traj_rigid(ref['traj'])
  ref_atoms = np.stack([ref['sidechains']['atom_pos'].x, ref['sidechains']['atom_pos'].y,
                        ref['sidechains']['atom_pos'].z], -1)
  d = {
      'final_atom_positions': _maxdiff(out['final_atom_positions'][m],
                                       ref['final_atom_positions'][m]),
      'final_atom14_positions': _maxdiff(out['final_atom14_positions'][m],
                                         ref['final_atom14_positions'][m]),
      'traj_trans': _maxdiff(out['traj'].trans[:, m], ref_traj.trans[:, m]),
      'traj_rot': _maxdiff(out['traj'].rot[:, m], ref_traj.rot[:, m]),
      'traj_quat_affine': _maxdiff(sm.traj_to_quat_affine(out['traj'])[:, m],
                                   ref['traj'][:, m] * jnp.concatenate(
                                       [jnp.sign(ref['traj'][:, m, :1])] * 4 +
                                       [jnp.ones_like(ref['traj'][:, m, :3])], -1)),
      'angles': _maxdiff(out['sidechains']['angles_sin_cos'][:, m],
                         ref['sidechains']['angles_sin_cos'][:, m]),
      'unnormalized_angles': _maxdiff(out['sidechains']['unnormalized_angles_sin_cos'][:, m],
                                      ref['sidechains']['unnormalized_angles_sin_cos'][:, m]),
      'sidechain_atom_pos': _maxdiff(out['sidechains']['atom_pos'][:, m], ref_atoms[:, m]),
      'act': _maxdiff(out['act'][m], ref['representations']['structure_module'][m]),
  }
  print('structure module vs oracle max|d|: ' + ', '.join(f'{k} {v:.1e}' for k, v in d.items()))
  print('CA coordinate range (A):', float(np.ptp(np.asarray(out['final_atom_positions'][m][:, 1]))))
  # A non-trivial structure: CA atoms spread over many angstrom, frames rotated.
  assert float(np.ptp(np.asarray(out['final_atom_positions'][m][:, 1]))) > 5.0
  assert all(v <= 1e-4 for v in d.values()), d
  np.testing.assert_array_equal(out['final_atom_mask'], ref['final_atom_mask'])
  np.testing.assert_array_equal(out['final_atom14_mask'], ref['final_atom14_mask'])
  # Gradients w.r.t. every parameter agree (this also pins the stop-gradient placement).
  # Leaves whose true gradient vanishes (e.g. attention_2d/bias: softmax is shift
  # invariant) are compared on the scale of the whole gradient.
  scale = max(float(np.max(np.abs(np.asarray(x)))) for x in jax.tree_util.tree_leaves(ref_grads))
  worst = 0.0
  for mod in ref_grads:
    for name in ref_grads[mod]:
      g, rg = np.asarray(grads[mod][name]), np.asarray(ref_grads[mod][name])
      assert np.all(np.isfinite(g)), (mod, name)
      rel = np.max(np.abs(g - rg)) / max(np.max(np.abs(rg)), 1e-3 * scale)
      worst = max(worst, rel)
  print(f'max relative grad difference {worst:.1e}')
  assert worst <= 1e-4


def test_padding_invariance(setup):
  _, params, inputs, w, out, _ = setup
  single, pair, aatype, seq_mask = inputs
  rng = np.random.default_rng(3)
  real = N_RES - N_PAD
  pad1 = 1 - seq_mask
  pad2 = (1 - seq_mask[:, None] * seq_mask[None, :])[..., None]
  single2 = single + 3 * jnp.asarray(rng.normal(size=single.shape), jnp.float32) * pad1[:, None]
  pair2 = pair + 3 * jnp.asarray(rng.normal(size=pair.shape), jnp.float32) * pad2
  aatype2 = aatype.at[real:].set(jnp.asarray(rng.integers(0, 21, N_PAD), jnp.int32))
  (_, out2), _ = _ours_value_and_grad(params, (single2, pair2, aatype2, seq_mask), w)
  for k in ('final_atom_positions', 'final_atom14_positions', 'act'):
    np.testing.assert_allclose(out2[k][:real], out[k][:real], atol=1e-5, err_msg=k)
  np.testing.assert_allclose(out2['traj'].trans[:, :real], out['traj'].trans[:, :real], atol=1e-5)
  np.testing.assert_allclose(out2['traj'].rot[:, :real], out['traj'].rot[:, :real], atol=1e-6)


def _fold_iteration_fn(act, frames, initial_act, pair, seq_mask, aatype):
  return sm.FoldIteration(CFG, GC)(act, frames, initial_act, pair, seq_mask, aatype, None, False)


def test_fold_iteration_coordinates_move_with_frames(setup):
  """Global motion g of the input frames: act unchanged, frames and atoms moved by g."""
  params = {k[len('structure_module/'):]: v for k, v in setup[1].items()
            if k.startswith('structure_module/fold_iteration')}
  rng = np.random.default_rng(4)
  f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)
  _, _, aatype, seq_mask = setup[2]
  act, initial_act, pair = f(N_RES, CFG.num_channel), f(N_RES, C_S), f(N_RES, N_RES, C_Z)
  frames = Rigid(rot=quaternion.quat_to_rot(f(N_RES, 4)), trans=f(N_RES, 3))  # nm
  g = Rigid(rot=quaternion.quat_to_rot(f(4)), trans=2 * f(3))  # nm
  apply = jax.jit(hk.transform(_fold_iteration_fn).apply)
  act1, frames1, out1 = apply(params, None, act, frames, initial_act, pair, seq_mask, aatype)
  moved = g.map(lambda x: x[None]) @ frames
  act2, frames2, out2 = apply(params, None, act, moved, initial_act, pair, seq_mask, aatype)
  r = np.asarray(seq_mask, bool)  # padded residues' outputs are unspecified
  np.testing.assert_allclose(act2[r], act1[r], atol=1e-4)
  g_nm = g.map(lambda x: x[None])
  np.testing.assert_allclose(frames2.trans[r], g_nm.apply(frames1.trans)[r], atol=1e-4)
  np.testing.assert_allclose(frames2.rot[r], (g_nm @ frames1).rot[r], atol=1e-5)
  g_ang = g.scale_translation(CFG.position_scale)
  exists = np.asarray(all_atom.atom14_mask(aatype))[..., None]
  moved_atoms = np.asarray(g_ang.apply(out1['sidechains']['atom_pos'])) * exists
  np.testing.assert_allclose(out2['sidechains']['atom_pos'][r], moved_atoms[r], atol=1e-3)
  np.testing.assert_allclose(out2['sidechains']['angles_sin_cos'][r],
                             out1['sidechains']['angles_sin_cos'][r], atol=1e-5)
  assert _maxdiff(frames1.trans, frames.trans) > 1e-2  # the layer did move the frames


def test_small_config_training_dropout_and_af2_init_grads():
  """Dropout needs a key and depends on it; gradients at AF2's (zero) init are finite."""
  cfg = sm.StructureModuleConfig(num_layer=3, num_channel=32, num_head=3, num_scalar_qk=5,
                                 num_scalar_v=7, num_point_qk=3, num_point_v=5,
                                 sidechain=sm.SidechainConfig(num_channel=11))
  gc = GlobalConfig(deterministic=False)
  rng = np.random.default_rng(5)
  n = 7
  single = jnp.asarray(rng.normal(size=(n, 13)), jnp.float32)
  pair = jnp.asarray(rng.normal(size=(n, n, 5)), jnp.float32)
  aatype = jnp.asarray(rng.integers(0, 21, n), jnp.int32)
  seq_mask = jnp.asarray(np.r_[np.ones(n - 2), np.zeros(2)], jnp.float32)
  f = hk.transform(lambda s, z, a, m, t, k: sm.StructureModule(cfg, gc)(s, z, a, m, t, k))
  shapes = jax.eval_shape(lambda k: f.init(k, single, pair, aatype, seq_mask, False, None),
                          jax.random.PRNGKey(0))
  params = _sm_params(shapes, 6)
  # AF2's initialisation zeroes these final layers (GlobalConfig.zero_init).
  zero_init = ('output_projection', 'transition_2', 'affine_update', 'resblock2', 'resblock2_1')
  af2_init = {m: {k: (jnp.zeros_like(v) if m.endswith(zero_init) else v) for k, v in d.items()}
              for m, d in params.items()}
  with pytest.raises(ValueError, match='PRNG `key`'):
    f.apply(params, None, single, pair, aatype, seq_mask, True, None)

  @jax.jit
  def run(p, key):
    def loss(p):
      out = f.apply(p, None, single, pair, aatype, seq_mask, True, key)
      return jnp.sum(out['final_atom_positions'] ** 2) + jnp.sum(out['traj'].trans ** 2), out
    return jax.value_and_grad(loss, has_aux=True)(p)

  # AF2 init: zero-initialised final layers -> every frame is the identity, all CA at 0.
  (_, out), grads = run(af2_init, jax.random.PRNGKey(1))
  assert np.all(np.asarray(out['traj'].trans) == 0)
  leaves = jax.tree_util.tree_leaves(grads)
  assert all(np.all(np.isfinite(np.asarray(x))) for x in leaves)
  assert float(np.abs(np.asarray(grads['structure_module/fold_iteration/affine_update']
                                 ['weights'])).sum()) > 0
  # Dropout acts on the single activations in training.
  (_, a), _ = run(params, jax.random.PRNGKey(1))
  (_, b), _ = run(params, jax.random.PRNGKey(2))
  assert _maxdiff(a['act'], b['act']) > 1e-3


def test_bad_inputs_raise():
  single, pair, aatype, seq_mask = _inputs(7)
  with pytest.raises(ValueError, match='residue axes'):
    _ours.init(jax.random.PRNGKey(0), single, pair, aatype[:-1], seq_mask)
  with pytest.raises(ValueError, match='dropout'):
    sm.StructureModuleConfig(dropout=1.5)
