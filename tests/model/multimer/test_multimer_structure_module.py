"""Multimer structure module (IPA with global point projections, quat_rigid update, position
scale 20, all-atom on our Rigid) vs the oracle's `folding_multimer.StructureModule`, random
params, real widths (c_s = 384, c_z = 128), 2 layers, padded residues."""

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from tests.oracle import oracle_import, requires_oracle

from alphafold_jax.model.multimer.structure_module import StructureModule
from alphafold_jax.model.structure_module import StructureModuleConfig
from alphafold_jax.ops.global_config import GlobalConfig
from tests.random_params import random_params

fm = oracle_import('alphafold.model.folding_multimer')
from alphafold.model import config as oracle_config  # noqa: E402

N, LAYERS = 13, 2


pytestmark = requires_oracle


def test_structure_module_matches_oracle():
  cfg = oracle_config.model_config('model_1_multimer_v3').model
  gc = cfg.global_config
  gc.bfloat16 = False
  gc.deterministic = True
  gc.zero_init = False
  sm = cfg.heads.structure_module
  sm.num_layer = LAYERS
  rng = np.random.default_rng(0)
  seq_mask = (np.arange(N) < 11).astype(np.float32)
  batch = {'aatype': jnp.asarray(rng.integers(0, 21, N), jnp.int32),
           'seq_mask': jnp.asarray(seq_mask)}
  reps = {'single': jnp.asarray(rng.normal(size=(N, 384)), jnp.float32),
          'pair': jnp.asarray(rng.normal(size=(N, N, 128)), jnp.float32)}

  t = hk.transform(lambda r, b: fm.StructureModule(sm, gc)(r, b, is_training=False))
  ours_cfg = dataclasses.replace(StructureModuleConfig(), num_layer=LAYERS, position_scale=20.0)
  o = hk.transform(lambda r, b: StructureModule(ours_cfg, GlobalConfig(deterministic=True,
                                                                       zero_init=False))(
      r['single'], r['pair'], b['aatype'], b['seq_mask']))
  key = jax.random.PRNGKey(0)
  shapes = jax.eval_shape(t.init, key, reps, batch)
  assert jax.tree_util.tree_map(lambda x: x.shape, jax.eval_shape(o.init, key, reps, batch)) == \
      jax.tree_util.tree_map(lambda x: x.shape, shapes)
  params = random_params(shapes, seed=3, weight_gain=0.5, bias_std=0.1)
  theirs = jax.jit(t.apply)(params, key, reps, batch)
  ours = jax.jit(o.apply)(params, key, reps, batch)
  np.testing.assert_array_equal(ours['final_atom_mask'], theirs['final_atom_mask'])
  d_pos = float(jnp.max(jnp.abs(ours['final_atom_positions'] - theirs['final_atom_positions'])))
  d_act = float(jnp.max(jnp.abs(ours['act'] - theirs['act'])))
  spread = float(jnp.max(jnp.abs(theirs['final_atom_positions'])))
  print(f'structure module: max|d pos|={d_pos:.2e} A (extent {spread:.1f} A), '
        f'max|d act|={d_act:.2e}')
  assert spread > 5.0  # a real structure, not collapsed at the origin
  assert d_pos <= 1e-4 and d_act <= 1e-4
