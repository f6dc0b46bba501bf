"""Worker for test_residue_sharding.py, run in a subprocess with 4 simulated CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=4), so the rest of the suite keeps one device.

  python -m tests.ops.residue_sharding_worker memory L     # per-device temp, sharded vs not
  python -m tests.ops.residue_sharding_worker iteration    # sharded Evoformer block == 1 device
  python -m tests.ops.residue_sharding_worker prediction   # RunModel(num_devices=4) == 1 device
  python -m tests.ops.residue_sharding_worker training     # tiny AF2 train-step grads, 2 x 2 mesh
  python -m tests.ops.residue_sharding_worker toy_training # toy pair loss grads, 2 x 2 mesh
Prints one JSON line.
"""

import dataclasses
import json
import sys

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from alphafold_jax.model import evoformer
from alphafold_jax.ops import sharding_rules
from alphafold_jax.ops.global_config import GlobalConfig


def _block(cfg, gc):
  def fn(msa, pair, msa_mask, pair_mask):
    return evoformer.EvoformerIteration(cfg, gc, is_extra_msa=False)(msa, pair, msa_mask, pair_mask)
  return hk.transform(fn)


def _mesh(n):
  return Mesh(np.asarray(jax.devices()[:n], dtype=object), (sharding_rules.RESIDUE_AXIS,))


def _sharded(gc):
  return dataclasses.replace(gc, residue_shard_axis=sharding_rules.RESIDUE_AXIS)


def memory(length, n_seq=128):
  sds = jax.ShapeDtypeStruct
  cfg = evoformer.EvoformerIterationConfig()
  args = (sds((n_seq, length, 256), jnp.float32), sds((length, length, 128), jnp.float32),
          sds((n_seq, length), jnp.float32), sds((length, length), jnp.float32))
  small = (sds((4, 8, 256), jnp.float32), sds((8, 8, 128), jnp.float32),
           sds((4, 8), jnp.float32), sds((8, 8), jnp.float32))
  out = {}
  for sub in (4, None):
    gc = GlobalConfig(deterministic=True, subbatch_size=sub)
    params = jax.eval_shape(_block(cfg, gc).init, jax.random.PRNGKey(0), *small)
    one = jax.jit(lambda p, *a: _block(cfg, gc).apply(p, None, *a)).lower(params, *args)
    mesh = _mesh(4)
    rows = NamedSharding(mesh, PartitionSpec(sharding_rules.RESIDUE_AXIS))
    rep = NamedSharding(mesh, PartitionSpec())
    f = jax.jit(lambda p, *a: _block(cfg, _sharded(gc)).apply(p, None, *a),
                in_shardings=(rep, rows, rows, rows, rows))
    with jax.set_mesh(mesh):
      four = f.lower(params, *args)
    for name, lowered in (('one', one), ('four', four)):
      m = lowered.compile().memory_analysis()
      out[f'{name}_sub{sub}'] = dict(temp=m.temp_size_in_bytes / 2**30,
                                     args=m.argument_size_in_bytes / 2**30,
                                     out=m.output_size_in_bytes / 2**30)
  return out


def iteration():
  from tests.model.test_evoformer import _inputs, _odd_config
  from tests.ops import trunk_testing as tt
  cfg = _odd_config()
  args = _inputs(8, 24, 7, 21, 15, 9, seed=5)
  gc = GlobalConfig(deterministic=True)
  params = tt.random_params(tt.param_shapes(_block(cfg, gc), *args), seed=2)
  ref = jax.jit(lambda p, *a: _block(cfg, gc).apply(p, None, *a))(params, *args)
  mesh = _mesh(4)
  with jax.set_mesh(mesh):
    got = jax.jit(lambda p, *a: _block(cfg, _sharded(gc)).apply(p, None, *a))(params, *args)
  return dict(msa=tt.max_diff(got[0], ref[0]), pair=tt.max_diff(got[1], ref[1]),
              devices=len(got[1].sharding.device_set))


def prediction():
  """Whole tiny model, 2 recycles: RunModel(num_devices=4) == RunModel()."""
  import data_pipeline
  from alphafold_jax.config import model_config
  from alphafold_jax.model import RunModel
  config = model_config('tiny', num_recycle=2, zero_init=False)
  one = RunModel(config)
  raw = data_pipeline.make_raw_features('MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ', 'query')  # 33
  feats = one.process_features(raw, random_seed=0)
  params = one.init_params(feats, random_seed=3)
  four = RunModel(config, params, num_devices=4)
  ref, got = one.predict(feats), four.predict(feats)
  mask = ref['final_atom_mask'] > 0
  return dict(positions=float(np.abs(got['final_atom_positions'] - ref['final_atom_positions'])[mask].max()),
              plddt=float(np.abs(got['plddt'] - ref['plddt']).max()),
              length=int(feats['aatype'].shape[-1]))


def training(spmd_axis='data'):
  """Train-step gradients of the tiny AF2 model (all AF2 losses, dropout on) on 1 device vs a
  2 x 2 (data x residue) mesh: batch of 2 examples, L 16."""
  import optax
  from alphafold_jax.common import protein as protein_lib
  from alphafold_jax.config import model_config
  from alphafold_jax.training import af2_presets, presets, sharding
  from alphafold_jax.training.config import TrainConfig
  from alphafold_jax.training.data import stack_examples
  from alphafold_jax.training.state import create_train_state
  from alphafold_jax.training.train_step import jit_train_step, make_train_step
  nano = 'tests/data/structures/nano'
  tc = TrainConfig(batch_size=2, max_recycle=0, sample_recycle=False, warmup_steps=0,
                   clip_global_norm=0.0)
  cfg = model_config('tiny', zero_init=False)
  split = dataclasses.replace(cfg, global_config=sharding_rules.with_residue_split(
      cfg.global_config))
  named = [(n, protein_lib.from_file(f'{nano}/{n}.pdb')) for n in ('1L2Y', '1VII')]
  built = presets.training_examples(named, 16, af2_presets.example_feature_config(cfg))
  batch = stack_examples([built.example(0), built.example(1)])
  init, loss_one, _ = af2_presets.build(cfg, tc)
  _, loss_split, _ = af2_presets.build(split, tc)
  params = init(jax.random.PRNGKey(1), built.example(0))
  capture = optax.GradientTransformation(  # state = the last gradient
      init=lambda p: jax.tree.map(jnp.zeros_like, p),
      update=lambda g, s, p=None: (jax.tree.map(jnp.zeros_like, g), g))
  grads = {}
  for name, loss_fn, mesh, spmd in (
      ('one', loss_one, sharding.make_mesh('data', jax.devices()[:1]), None),
      ('mesh', loss_split, sharding.make_mesh_2d(2, 2), spmd_axis)):
    state = sharding.replicate(create_train_state(params, capture, jax.random.PRNGKey(5)), mesh)
    step = jit_train_step(make_train_step(loss_fn, capture, tc, spmd_axis_name=spmd), mesh, 'data')
    with jax.set_mesh(mesh):
      state, metrics = step(state, sharding.shard_batch(batch, mesh, 'data'))
    leaves = jax.tree_util.tree_leaves_with_path(state.opt_state)
    grads[name] = ({jax.tree_util.keystr(k): np.asarray(g) for k, g in leaves},
                   float(metrics['loss']))
  (g1, l1), (g4, l4) = grads['one'], grads['mesh']
  scale = max(float(np.max(np.abs(a))) for a in g1.values())
  per_leaf = sorted(((float(np.max(np.abs(g1[k] - g4[k]))) / max(float(np.max(np.abs(g1[k]))), 1e-30),
                      float(np.max(np.abs(g1[k]))), k) for k in g1), reverse=True)
  return dict(grad_rel_global=max(float(np.max(np.abs(g1[k] - g4[k]))) for k in g1) / scale,
              worst_leaves=per_leaf[:4], loss_one=l1, loss_mesh=l4, num_leaves=len(g1))


def toy_training():
  """train_step on a 2 x 2 (data x residue) mesh vs one device for a toy pair loss whose weight
  gradients contract the example axis with a row-split and a column-split operand (the pattern
  of every pair weight of the model): batch 4, N 12, c 5, h 3."""
  import optax
  from alphafold_jax.training import sharding
  from alphafold_jax.training.config import TrainConfig
  from alphafold_jax.training.state import create_train_state
  from alphafold_jax.training.train_step import jit_train_step, make_train_step
  rng = np.random.default_rng(3)
  b, n, c, h = 4, 12, 5, 3
  batch = {k: rng.standard_normal((b, n, n, c)).astype(np.float32) for k in ('x', 'y')}
  params = {k: rng.standard_normal((c, h)).astype(np.float32) for k in ('w', 'v')}

  def loss_fn(gc):
    def fn(p, example, key, num_recycle):
      del key, num_recycle
      def linear(x, w, split_in, split_out):  # input split one way, its use the other way
        x = sharding_rules.constrain(x, split_in, gc)  # [N, N, c]
        return sharding_rules.constrain(x @ w, split_out, gc)  # [N, N, h]
      rows = linear(example['x'], p['w'], 'pair_cols', 'pair_rows')
      cols = linear(example['y'], p['v'], 'pair_rows', 'pair_cols')
      return jnp.mean(jnp.tanh(rows) * cols), {}
    return fn

  tc = TrainConfig(batch_size=b, max_recycle=0, sample_recycle=False, warmup_steps=0,
                   clip_global_norm=0.0)
  capture = optax.GradientTransformation(  # state = the last gradient
      init=lambda p: jax.tree.map(jnp.zeros_like, p),
      update=lambda g, s, p=None: (jax.tree.map(jnp.zeros_like, g), g))
  gc = GlobalConfig()
  grads = {}
  for name, mesh, split, spmd in (('one', sharding.make_mesh('data', jax.devices()[:1]), gc, None),
                                  ('mesh', sharding.make_mesh_2d(2, 2), _sharded(gc), 'data')):
    state = sharding.replicate(create_train_state(params, capture, jax.random.PRNGKey(5)), mesh)
    step = jit_train_step(make_train_step(loss_fn(split), capture, tc, spmd_axis_name=spmd),
                          mesh, 'data')
    with jax.set_mesh(mesh):
      state, _ = step(state, sharding.shard_batch(batch, mesh, 'data'))
    grads[name] = {k: np.asarray(v) for k, v in state.opt_state.items()}
  return {k: float(np.max(np.abs(grads['mesh'][k] - grads['one'][k]))
                   / np.max(np.abs(grads['one'][k]))) for k in params}


if __name__ == '__main__':
  what = sys.argv[1]
  result = dict(memory=lambda: memory(int(sys.argv[2])), iteration=iteration,
                prediction=prediction, training=training, toy_training=toy_training,
                training_no_spmd=lambda: training(None))[what]()
  print(json.dumps(result))
