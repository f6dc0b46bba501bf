"""The long-sequence inference policy on the L x L heads (distogram, PAE) and the structure
module's pair projections (IPA pair bias and attended pair): blocks of rows == the default path."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.geometry import quaternion
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model import heads
from alphafold_jax.model.ipa import InvariantPointAttention, InvariantPointAttentionConfig
from alphafold_jax.model.structure_module import StructureModule, StructureModuleConfig
from alphafold_jax.ops import memory_policy
from alphafold_jax.ops.global_config import GlobalConfig
from tests.ops import trunk_testing as tt

L, C_Z, C_S = 301, 9, 7  # L >= 300 and small widths: many real row blocks and a ragged one
DEFAULT = GlobalConfig(deterministic=True, zero_init=False)
LONG = memory_policy.long_sequence_inference(DEFAULT, chunk_budget_mib=0.25)
IPA = InvariantPointAttentionConfig(num_head=3, num_scalar_qk=4, num_scalar_v=5, num_point_qk=2,
                                    num_point_v=3, num_channel=C_S)


def _heads(gc):
  def fn(pair):
    dist = heads.DistogramHead(heads.DistogramHeadConfig(), gc)(pair)['logits']
    pae = heads.PredictedAlignedErrorHead(heads.PredictedAlignedErrorHeadConfig(), gc)(pair)
    return dist, pae['logits']  # [N, N, 64] each
  return hk.transform(fn)


def _ipa(gc):
  return hk.transform(lambda s, z, m, t: InvariantPointAttention(IPA, gc)(s, z, m, t))


def _frames(seed):
  rng = np.random.default_rng(seed)
  quat = jnp.asarray(rng.normal(size=(L, 4)), jnp.float32)
  return Rigid(rot=quaternion.quat_to_rot(quat), trans=tt.normal(seed + 1, (L, 3)))


def _check(transformed, args, diff_args):
  """Chunked vs default outputs (<= 1e-5 of the largest entry) and gradients of a random
  projection of the outputs w.r.t. params and `diff_args` (finite, equal to the default's)."""
  shapes = tt.param_shapes(transformed(DEFAULT), *args)
  params = tt.random_params(shapes, seed=4)
  outs, loops = {}, {}
  for name, gc in (('default', DEFAULT), ('long', LONG)):
    apply = lambda p, *a, gc=gc: transformed(gc).apply(p, None, *a)
    jaxpr = str(jax.make_jaxpr(apply)(params, *args))
    loops[name] = jaxpr.count('while[') + jaxpr.count('scan[')
    out = jax.jit(apply)(params, *args)
    weights = [tt.normal(9 + i, o.shape) for i, o in enumerate(jax.tree.leaves(out))]
    loss = lambda p, *a: sum(jnp.sum(o * w) for o, w in
                             zip(jax.tree.leaves(apply(p, *a)), weights))
    grads = jax.jit(jax.grad(loss, argnums=(0, *diff_args)))(params, *args)
    outs[name] = (out, grads)
  assert loops['long'] > loops['default'], loops  # the policy's path loops over row blocks
  (o0, g0), (o1, g1) = outs['default'], outs['long']
  for a, b in zip(jax.tree.leaves(o0), jax.tree.leaves(o1)):
    scale = float(jnp.max(jnp.abs(a)))
    print(f'output {a.shape}: max |d| {tt.max_diff(a, b):.2e} (max |x| {scale:.2f})')
    assert tt.max_diff(a, b) <= 1e-5 * max(1.0, scale)
  for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1)):
    assert bool(jnp.all(jnp.isfinite(b)))
    assert tt.max_diff(a, b) <= 1e-4 * max(1.0, float(jnp.max(jnp.abs(a))))


def test_heads_by_row_blocks_equal_default():
  """Distogram (symmetrised: each block reads its rows and columns) and PAE logits, L 301."""
  rows = memory_policy.pair_update_rows(LONG, 4 * L * 64)
  assert 1 < rows < L and L % rows, rows  # several blocks and a ragged last one
  _check(_heads, (tt.normal(0, (L, L, C_Z)),), diff_args=(1,))


def test_ipa_by_query_row_blocks_equals_default():
  """IPA with a padded tail (mask 0 for the last 8 residues), L 301, odd widths."""
  mask = jnp.asarray(np.r_[np.ones(L - 8), np.zeros(8)], jnp.float32)
  args = (tt.normal(1, (L, C_S)), tt.normal(2, (L, L, C_Z)), mask, _frames(3))
  _check(_ipa, args, diff_args=(1, 2))


def test_structure_module_normalises_pair_row_blocks():
  """StructureModule, 2 layers, odd widths, L 301: no whole LayerNorm(pair) under the policy
  (the IPA normalises each block), same positions and single activations."""
  cfg = StructureModuleConfig(num_layer=2, num_channel=C_S, num_head=3, num_scalar_qk=4,
                              num_scalar_v=5, num_point_qk=2, num_point_v=3)

  def module(gc):
    def fn(single, pair, aatype, mask):
      out = StructureModule(cfg, gc)(single, pair, aatype, mask)
      return out['final_atom_positions'], out['act']
    return hk.transform(fn)
  aatype = jnp.asarray(np.random.default_rng(5).integers(0, 20, L), jnp.int32)
  mask = jnp.asarray(np.r_[np.ones(L - 8), np.zeros(8)], jnp.float32)
  _check(module, (tt.normal(6, (L, C_S)), tt.normal(7, (L, L, C_Z)), aatype, mask),
         diff_args=(1, 2))
