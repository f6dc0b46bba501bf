"""GlobalConfig.bfloat16, the one precision switch: bf16 trunk compute, fp32 params and outputs."""

import re

import jax
import numpy as np

import data_pipeline
from alphafold_jax.config import model_config
from alphafold_jax.model import RunModel
from alphafold_jax.model.run_model import model_inputs

SEQUENCE = 'MKTAYIAKQRQISFVKSHF'  # 19 residues: no axis of the tiny model has this size


def _features(config):
  raw = data_pipeline.make_raw_features(SEQUENCE, 'query')
  return RunModel(config).process_features(raw, random_seed=0)


def test_bf16_trunk_close_to_fp32_with_fp32_params_and_bf16_dots():
  fp32 = model_config('tiny', num_recycle=1, zero_init=False)
  bf16 = model_config('tiny', num_recycle=1, zero_init=False, bfloat16=True)
  feats = _features(fp32)
  ref = RunModel(fp32)
  params = ref.init_params(feats, random_seed=3)
  half = RunModel(bf16, params)
  # The same parameter tree (names, shapes, fp32) serves both precisions.
  shapes = jax.tree.map(lambda s: (s.shape, s.dtype), half.param_shapes(feats))
  assert shapes == jax.tree.map(lambda p: (p.shape, p.dtype), params)
  out32, out16 = ref.predict(feats), half.predict(feats)
  for key in ('final_atom_positions', 'plddt', 'predicted_aligned_error'):
    assert out16[key].dtype == np.float32 and np.isfinite(out16[key]).all(), key
  # bf16 keeps ~3 significant digits: on this random network (CA span ~40 A) the atoms move
  # by 0.7 A RMS (measured), a few % of the span; a different model would move by the span.
  mask = out32['final_atom_mask'] > 0
  dist = np.linalg.norm(out16['final_atom_positions'] - out32['final_atom_positions'], axis=-1)
  span = np.ptp(out32['final_atom_positions'][:, 1], axis=0).max()
  rms = np.sqrt(np.mean(dist[mask] ** 2))
  assert 0 < rms < 0.05 * span, (rms, span)
  assert 0 < np.abs(out16['plddt'] - out32['plddt']).max() < 2
  # The compiled trunk multiplies in bf16; the fp32 program has no bf16 at all.
  hlo16 = half._apply.lower(params, jax.random.PRNGKey(0), model_inputs(feats),
                            np.int32(1)).as_text()
  hlo32 = ref._apply.lower(params, jax.random.PRNGKey(0), model_inputs(feats),
                           np.int32(1)).as_text()
  assert re.search(r'dot_general.*bf16|bf16.*dot_general', hlo16)
  assert 'bf16' not in hlo32
