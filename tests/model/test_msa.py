"""Oracle and property tests for model/msa.py, outer_product_mean.py and transition.py
(Suppl. Alg. 7, 8, 9, 10, 15, 19)."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.model import msa as msa_lib
from alphafold_jax.model.outer_product_mean import OuterProductMean, OuterProductMeanConfig
from alphafold_jax.model.transition import Transition, TransitionConfig
from tests.ops import trunk_testing as tt
from tests.oracle import requires_oracle
from tests.random_params import random_params

pytestmark = requires_oracle

S, N, S_REAL, N_REAL = 5, 9, 4, 7


def _msa_inputs(c_m, c_z, seed):
  msa = tt.normal(seed, (S, N, c_m))
  pair = tt.normal(seed + 1, (N, N, c_z))
  mask = jnp.asarray(tt.padded_mask((S, N), (S_REAL, N_REAL), seed=seed + 2))
  return msa, pair, mask


def _run(ours, oracle, args, mask, label):
  out, ref, params = tt.compare_with_oracle(ours, oracle, args)
  d = tt.max_diff(out, ref, mask)
  print(f'{label} max|d| = {d:.2e}')
  assert d <= 1e-4
  return out, params


@pytest.mark.parametrize('c_m,c_z,num_head', [(256, 128, 8), (64, 128, 8), (15, 9, 3)])
def test_row_attention_with_pair_bias_matches_oracle(c_m, c_z, num_head):
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  cfg = msa_lib.row_attention_config(num_head=num_head)
  msa, pair, mask = _msa_inputs(c_m, c_z, seed=c_m)
  ours = lambda m, z, k, chunk=None: msa_lib.MSARowAttentionWithPairBias(
      cfg, tt.our_global_config(subbatch_size=chunk))(m, k, z)
  oracle = lambda m, z, k: modules.MSARowAttentionWithPairBias(tt.to_oracle_config(cfg), ogc)(m, k, z)
  out, params = _run(ours, oracle, (msa, pair, mask), mask, f'msa row attention c_m={c_m}')
  chunked = jax.jit(hk.transform(lambda *a: ours(*a, chunk=2)).apply)(params, None, msa, pair, mask)
  assert tt.max_diff(chunked, out) <= 1e-5


@pytest.mark.parametrize('c_m,num_head', [(256, 8), (15, 3)])
def test_column_attention_matches_oracle(c_m, num_head):
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  cfg = msa_lib.column_attention_config(num_head=num_head)
  msa, _, mask = _msa_inputs(c_m, 3, seed=c_m + 7)
  ours = lambda m, k, chunk=None: msa_lib.MSAColumnAttention(
      cfg, tt.our_global_config(subbatch_size=chunk))(m, k)
  oracle = lambda m, k: modules.MSAColumnAttention(tt.to_oracle_config(cfg), ogc)(m, k)
  out, params = _run(ours, oracle, (msa, mask), mask, f'msa column attention c_m={c_m}')
  chunked = jax.jit(hk.transform(lambda *a: ours(*a, chunk=4)).apply)(params, None, msa, mask)
  assert tt.max_diff(chunked, out) <= 1e-5


@pytest.mark.parametrize('c_m,num_head,gating', [(64, 8, True), (15, 3, True), (15, 5, False)])
def test_column_global_attention_matches_oracle(c_m, num_head, gating):
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  cfg = msa_lib.column_attention_config(num_head=num_head, gating=gating)
  msa, _, mask = _msa_inputs(c_m, 3, seed=c_m + 11)
  ours = lambda m, k, chunk=None: msa_lib.MSAColumnGlobalAttention(
      cfg, tt.our_global_config(subbatch_size=chunk))(m, k)
  oracle = lambda m, k: modules.MSAColumnGlobalAttention(tt.to_oracle_config(cfg), ogc)(m, k)
  out, params = _run(ours, oracle, (msa, mask), mask, f'msa column global attention c_m={c_m}')
  chunked = jax.jit(hk.transform(lambda *a: ours(*a, chunk=4)).apply)(params, None, msa, mask)
  assert tt.max_diff(chunked, out) <= 1e-5


@pytest.mark.parametrize('c_m,c_z,c', [(256, 128, 32), (64, 128, 32), (15, 9, 5)])
def test_outer_product_mean_matches_oracle(c_m, c_z, c):
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  cfg = OuterProductMeanConfig(num_outer_channel=c)
  msa, _, mask = _msa_inputs(c_m, 3, seed=c_m + 13)
  # The OPM's fixed chunk is AF2's 128 residues (ops/memory_policy.py), more than N here: chunk
  # it through the memory budget instead, sized to 2 residues of its [1, N, c, c] outer product.
  gc = lambda budget: tt.our_global_config(
      chunk_budget_mib=None if budget is None else 2 * N * c * c * 4 / 2**20)
  ours = lambda m, k, chunk=None: OuterProductMean(cfg, gc(chunk), c_z)(m, k)
  oracle = lambda m, k: modules.OuterProductMean(tt.to_oracle_config(cfg), ogc, c_z)(
      m, k, is_training=False)
  pair_mask = np.asarray(mask).max(0)[:, None] * np.asarray(mask).max(0)[None, :]
  out, params = _run(ours, oracle, (msa, mask), pair_mask, f'outer product mean c_m={c_m}')
  chunked = jax.jit(hk.transform(lambda *a: ours(*a, chunk=2)).apply)(params, None, msa, mask)
  assert tt.max_diff(chunked, out) <= 1e-5


@pytest.mark.parametrize('c,factor', [(256, 4), (128, 4), (64, 2), (9, 3)])
def test_transition_matches_oracle(c, factor):
  from alphafold.model import modules
  _, _, ogc = tt.oracle_configs()
  cfg = TransitionConfig(num_intermediate_factor=factor)
  act, _, mask = _msa_inputs(c, 3, seed=c + 17)
  ours = lambda a, k, chunk=None: Transition(cfg, tt.our_global_config(subbatch_size=chunk),
                                             name='msa_transition')(a, k)
  oracle = lambda a, k: modules.Transition(tt.to_oracle_config(cfg), ogc, name='msa_transition')(
      a, k, is_training=False)
  out, params = _run(ours, oracle, (act, mask), mask, f'transition c={c}')
  chunked = jax.jit(hk.transform(lambda *a: ours(*a, chunk=2)).apply)(params, None, act, mask)
  assert tt.max_diff(chunked, out) <= 1e-5


@pytest.mark.parametrize('module', ['row', 'column', 'global', 'opm'])
def test_msa_padding_invariance(module):
  """Padded MSA rows and residues (garbage values) leave every real output unchanged."""
  gc = tt.our_global_config(zero_init=False)
  c_m, c_z = 12, 6
  build = {
      'row': lambda m, k, z: msa_lib.MSARowAttentionWithPairBias(
          msa_lib.row_attention_config(num_head=3), gc)(m, k, z),
      'column': lambda m, k, z: msa_lib.MSAColumnAttention(
          msa_lib.column_attention_config(num_head=3), gc)(m, k),
      'global': lambda m, k, z: msa_lib.MSAColumnGlobalAttention(
          msa_lib.column_attention_config(num_head=3), gc)(m, k),
      'opm': lambda m, k, z: OuterProductMean(OuterProductMeanConfig(num_outer_channel=4), gc, c_z)(m, k),
  }[module]
  t = hk.transform(build)
  s, n, ps, pn = 3, 5, 2, 3
  msa = tt.normal(1, (s, n, c_m))
  pair = tt.normal(2, (n, n, c_z))
  mask = jnp.ones((s, n))
  msa_big = tt.normal(3, (s + ps, n + pn, c_m), 5.0).at[:s, :n].set(msa)
  pair_big = tt.normal(4, (n + pn, n + pn, c_z), 5.0).at[:n, :n].set(pair)
  mask_big = jnp.zeros((s + ps, n + pn)).at[:s, :n].set(1.0)
  params = random_params(tt.param_shapes(t, msa, mask, pair), seed=5)
  apply = jax.jit(t.apply)
  small = apply(params, None, msa, mask, pair)
  big = apply(params, None, msa_big, mask_big, pair_big)
  d = tt.max_diff(big[:s, :n] if module != 'opm' else big[:n, :n], small)
  assert d <= 1e-5, d
  assert np.isfinite(np.asarray(big)).all()
