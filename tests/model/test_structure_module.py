"""Structure module (Suppl. Alg. 20/23/24) vs the alphafold oracle, plus properties.

Oracle = `alphafold.model.folding.StructureModule` (test tool only), model_1_ptm widths,
random parameters (every leaf perturbed, so AF2's zero-initialised layers are live).
"""

import functools

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.config.global_config import GlobalConfig
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model import structure_module as sm

N_RES, N_PAD = 11, 2  # 11 residues of which the last 2 are padding
C_S, C_Z = 384, 128


def _oracle_config():
  from alphafold.model import config
  cfg = config.model_config('model_1_ptm')
  cfg.model.global_config.bfloat16 = False
  cfg.model.global_config.deterministic = True
  return cfg.model.heads.structure_module, cfg.model.global_config


def _oracle_batch(aatype, seq_mask):
  from alphafold.common import residue_constants as orc
  table = np.zeros((21, 37), np.int32)  # atom37 -> atom14 index per restype
  for r, one in enumerate(orc.restypes):
    names = orc.restype_name_to_atom14_names[orc.restype_1to3[one]]
    for a14, name in enumerate(names):
      if name:
        table[r, orc.atom_order[name]] = a14
  return {
      'seq_mask': seq_mask,
      'aatype': aatype,
      'atom14_atom_exists': jnp.asarray(orc.restype_atom14_mask)[aatype],
      'atom37_atom_exists': jnp.asarray(orc.restype_atom37_mask)[aatype],
      'residx_atom37_to_atom14': jnp.asarray(table)[aatype],
  }


def _perturb(params, key, scale=0.02):
  leaves, treedef = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree_util.tree_unflatten(
      treedef, [x + scale * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)])


def _inputs(seed, n=N_RES, n_pad=N_PAD):
  rng = np.random.default_rng(seed)
  single = jnp.asarray(rng.normal(size=(n, C_S)), jnp.float32)
  pair = jnp.asarray(rng.normal(size=(n, n, C_Z)), jnp.float32)
  aatype = jnp.asarray(rng.integers(0, 21, size=n), jnp.int32)  # includes UNK
  seq_mask = jnp.asarray(np.r_[np.ones(n - n_pad), np.zeros(n_pad)], jnp.float32)
  return single, pair, aatype, seq_mask


def _ours_fn(single, pair, aatype, seq_mask, config=sm.StructureModuleConfig(),
             gc=GlobalConfig(deterministic=True)):
  return sm.StructureModule(config, gc)(single, pair, aatype, seq_mask, is_training=False)


@pytest.fixture(scope='module')
def oracle_setup():
  from alphafold.model import folding
  cfg, gc = _oracle_config()

  def oracle_fn(single, pair, aatype, seq_mask):
    batch = _oracle_batch(aatype, seq_mask)
    return folding.StructureModule(cfg, gc)(
        {'single': single, 'pair': pair}, batch, is_training=False)

  oracle = hk.transform(oracle_fn)
  inputs = _inputs(0)
  params = oracle.init(jax.random.PRNGKey(0), *inputs)
  params = _perturb(params, jax.random.PRNGKey(1))
  return oracle, params, inputs


def _oracle_traj_rigid(traj):
  from alphafold.model import quat_affine
  rot = quat_affine.quat_to_rot(traj[..., :4] / jnp.linalg.norm(traj[..., :4], axis=-1,
                                                                 keepdims=True))
  rot = jnp.stack([jnp.stack(r, -1) for r in rot], -2)  # [L, N, 3, 3]
  return Rigid(rot=rot, trans=traj[..., 4:])


def test_param_tree_matches_oracle(oracle_setup):
  oracle, params, inputs = oracle_setup
  ours = hk.transform(_ours_fn).init(jax.random.PRNGKey(2), *inputs)
  shapes = lambda p: {f'{m}/{n}': v.shape for m, d in p.items() for n, v in d.items()}
  assert shapes(ours) == shapes(params)


def test_matches_oracle(oracle_setup):
  oracle, params, inputs = oracle_setup
  ref = jax.jit(oracle.apply)(params, jax.random.PRNGKey(3), *inputs)
  out = jax.jit(hk.transform(_ours_fn).apply)(params, None, *inputs)
  m = np.asarray(inputs[3], bool)

  def maxdiff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))

  d_pos = maxdiff(out['final_atom_positions'][m], ref['final_atom_positions'][m])
  d_pos14 = maxdiff(out['final_atom14_positions'][m], ref['final_atom14_positions'][m])
  ref_traj = _oracle_traj_rigid(ref['traj'])
  d_trans = maxdiff(out['traj'].trans[:, m], ref_traj.trans[:, m])
  d_rot = maxdiff(out['traj'].rot[:, m], ref_traj.rot[:, m])
  d_ang = maxdiff(out['sidechains']['angles_sin_cos'][:, m], ref['sidechains']['angles_sin_cos'][:, m])
  d_uang = maxdiff(out['sidechains']['unnormalized_angles_sin_cos'][:, m],
                   ref['sidechains']['unnormalized_angles_sin_cos'][:, m])
  ref_atoms = np.stack([ref['sidechains']['atom_pos'].x, ref['sidechains']['atom_pos'].y,
                        ref['sidechains']['atom_pos'].z], -1)
  d_atoms = maxdiff(out['sidechains']['atom_pos'][:, m], ref_atoms[:, m])
  d_act = maxdiff(out['act'][m], ref['representations']['structure_module'][m])
  print(f'max|d| final_atom_positions {d_pos:.2e} A, atom14 {d_pos14:.2e}, traj trans {d_trans:.2e} A, '
        f'traj rot {d_rot:.2e}, angles {d_ang:.2e}, unnorm angles {d_uang:.2e}, '
        f'per-layer atoms {d_atoms:.2e}, act {d_act:.2e}')
  # The structure is non-trivial: atoms spread over several angstrom.
  assert float(np.ptp(np.asarray(out['final_atom_positions'][m][..., 1, :]))) > 1.0
  assert d_pos <= 1e-4 and d_pos14 <= 1e-4 and d_trans <= 1e-4 and d_atoms <= 1e-4
  assert d_rot <= 1e-5 and d_ang <= 1e-5 and d_uang <= 1e-4 and d_act <= 1e-4
  np.testing.assert_array_equal(out['final_atom_mask'], ref['final_atom_mask'])
  np.testing.assert_array_equal(out['final_atom14_mask'], ref['final_atom14_mask'])
