"""Worker for test_residue_sharding.py, run in a subprocess with 4 simulated CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=4), so the rest of the suite keeps one device.

  python -m tests.ops.residue_sharding_worker memory L     # per-device temp, sharded vs not
  python -m tests.ops.residue_sharding_worker iteration    # sharded Evoformer block == 1 device
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


if __name__ == '__main__':
  what = sys.argv[1]
  result = dict(memory=lambda: memory(int(sys.argv[2])), iteration=iteration,
                prediction=prediction)[what]()
  print(json.dumps(result))
