"""The long-sequence inference policy (ops/memory_policy.py, ops/inplace.py): in-place row blocks
give the default path's values; bf16 pair storage stays close; the policy picked by length."""

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.model import evoformer
from alphafold_jax.ops import inplace, memory_policy
from alphafold_jax.ops.global_config import GlobalConfig
from tests.model.test_evoformer import _inputs, _odd_config
from tests.ops import trunk_testing as tt

# Widest row intermediate of the odd config at N = 301: 301 * 9 * 16 bytes (triangle
# multiplication) -> 12 rows per block: 25 full blocks and a ragged one of 1 row.
BUDGET_MIB = 0.5


def _stack(cfg, gc, is_extra):
  def fn(msa, pair, msa_mask, pair_mask):
    return evoformer.evoformer_stack(msa, pair, msa_mask, pair_mask, config=cfg, global_config=gc,
                                     num_block=1, is_extra_msa=is_extra)
  return hk.transform(fn)


@pytest.mark.parametrize('is_extra,fused', [(False, False), (True, True)])
def test_long_sequence_policy_equals_default(is_extra, fused):
  """Evoformer block at L = 301 (padded to 301 from 293 real), odd widths, random params:
  in-place row blocks (outgoing by rows, incoming / ending node by columns) == default path."""
  cfg = _odd_config(fused=fused)
  args = _inputs(5, 301, 4, 293, 15, 9, seed=3)
  default = GlobalConfig(deterministic=True)
  long = memory_policy.long_sequence_inference(default, chunk_budget_mib=BUDGET_MIB)
  assert memory_policy.pair_update_rows(long, 301 * 9 * 16) == 12
  shapes = tt.param_shapes(_stack(cfg, default, is_extra), *args)
  params = tt.random_params(shapes, seed=11, stacked=True)
  (m0, z0) = jax.jit(_stack(cfg, default, is_extra).apply)(params, None, *args)
  (m1, z1) = jax.jit(_stack(cfg, long, is_extra).apply)(params, None, *args)
  d_m, d_z = tt.max_diff(m1, m0), tt.max_diff(z1, z0)
  scale = float(jnp.max(jnp.abs(z0)))
  print(f'long-sequence policy vs default: msa {d_m:.2e}, pair {d_z:.2e} (|pair| <= {scale:.1f})')
  # fp32 rounding of |pair| ~ scale: 1e-5 relative to the largest entry (ulp at 64 is 7.6e-6)
  assert d_m <= 1e-5 and d_z <= 1e-5 * max(1.0, scale)
  # bf16 storage of the pair between sub-layers: close, not equal.
  bf16 = memory_policy.long_sequence_inference(default, BUDGET_MIB, bfloat16_pair=True)
  (m2, z2) = jax.jit(_stack(cfg, bf16, is_extra).apply)(params, None, *args)
  assert z2.dtype == jnp.float32
  rel = tt.max_diff(z2, z0) / scale
  print(f'bf16 pair storage: max |d| / max |pair| = {rel:.2e}')
  assert 0 < rel <= 3e-2


def test_inplace_rows_is_a_residual_by_blocks():
  """update_rows_inplace / build_from_rows == the whole-array computation (rows 0 and 1)."""
  x = tt.normal(0, (7, 5, 3))
  f = lambda rows, start: jnp.sin(rows) * (1.0 + start)  # start: index of the first row
  ref_rows = x + jnp.sin(x) * (1.0 + jnp.arange(7) // 3 * 3)[:, None, None]
  out = hk.transform(lambda a: inplace.update_rows_inplace(a, f, 3, axis=0)).apply({}, None, x)
  np.testing.assert_allclose(out, ref_rows, rtol=1e-6)
  xt = jnp.swapaxes(x, 0, 1)  # columns of xt are x's rows
  out_t = hk.transform(lambda a: inplace.update_rows_inplace(a, f, 3, axis=1)).apply({}, None, xt)
  np.testing.assert_allclose(jnp.swapaxes(out_t, 0, 1), ref_rows, rtol=1e-6)
  built = hk.transform(lambda a: inplace.build_from_rows(
      a, lambda r, s: jnp.moveaxis(jnp.cos(r), 0, 1), 2, out_axis=1)).apply({}, None, x)
  np.testing.assert_allclose(built, jnp.moveaxis(jnp.cos(x), 0, 1), rtol=1e-6)


def test_policy_for_length():
  gc = GlobalConfig(deterministic=True)
  assert memory_policy.policy_for_length(gc, 3000, None) == gc
  short = memory_policy.policy_for_length(gc, 256, 24)
  assert short.chunk_budget_mib is not None and not short.inplace_pair_updates
  long = memory_policy.policy_for_length(gc, 3072, 20)
  assert long.inplace_pair_updates and not long.pair_storage_bfloat16
  tight = memory_policy.policy_for_length(gc, 3072, 12)
  assert tight.inplace_pair_updates and tight.pair_storage_bfloat16
  assert not memory_policy.inplace_pair(long, is_training=True)  # inference only
  assert not memory_policy.inplace_pair(dataclasses.replace(long, eval_dropout=True,
                                                            deterministic=False), False)


@pytest.mark.parametrize('module', ['row', 'column', 'global_column', 'transition'])
def test_msa_sublayers_in_place_equal_residual(module):
  """Each MSA sub-layer with add_to_input (blocks of sequences or residue columns, the last
  block ragged: 7 rows / 23 columns in blocks of 2 / 3) == msa + its update (default path)."""
  from alphafold_jax.model import msa as msa_lib
  from alphafold_jax.model.transition import Transition, TransitionConfig
  num_seq, num_res, c_m, c_z = 7, 23, 12, 6
  msa = tt.normal(1, (num_seq, num_res, c_m))
  pair = tt.normal(2, (num_res, num_res, c_z))
  mask = jnp.asarray(tt.padded_mask((num_seq, num_res), (6, 20), seed=3))
  default = GlobalConfig(deterministic=True)
  # budgets giving 2 sequences (row attention, 3 heads) / 3 columns / 2 rows per block
  budget_bytes = {'row': 2 * 4 * 3 * num_res ** 2, 'column': 3 * 4 * 3 * num_seq ** 2,
                  'global_column': 3 * 16 * num_seq * c_m,
                  'transition': 2 * num_res * 4 * c_m * 4}[module]
  long = memory_policy.long_sequence_inference(default, chunk_budget_mib=budget_bytes / 2 ** 20)

  def fn(gc, add):
    def apply(m, z, k):
      cfg = msa_lib.row_attention_config(num_head=3) if module == 'row' else \
          msa_lib.column_attention_config(num_head=3)
      if module == 'row':
        sub = msa_lib.MSARowAttentionWithPairBias(cfg, gc)
        return sub(m, k, z, add_to_input=True) if add else m + sub(m, k, z)
      if module == 'transition':
        sub = Transition(TransitionConfig(), gc, name='msa_transition')
      elif module == 'column':
        sub = msa_lib.MSAColumnAttention(cfg, gc)
      else:
        sub = msa_lib.MSAColumnGlobalAttention(cfg, gc)
      return sub(m, k, add_to_input=True) if add else m + sub(m, k)
    return hk.transform(apply)

  params = tt.random_params(tt.param_shapes(fn(default, False), msa, pair, mask), seed=5)
  ref = jax.jit(fn(default, False).apply)(params, None, msa, pair, mask)
  out = jax.jit(fn(long, True).apply)(params, None, msa, pair, mask)
  assert out.shape == msa.shape
  assert tt.max_diff(out, ref) <= 1e-5
  assert tt.max_diff(ref, msa) > 1e-2  # the update is not trivially zero
