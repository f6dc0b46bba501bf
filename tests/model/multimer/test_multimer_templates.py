"""Multimer template embedding (pair + MSA rows) vs the oracle's `modules_multimer`, random
params (shared), fp32, templates with partly missing atoms, two chains (intra-chain masking)."""

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from tests.oracle import oracle_import, requires_oracle

from alphafold_jax.model.multimer.templates import (MultimerTemplateConfig, TemplateEmbedding,
                                                    template_rows)
from alphafold_jax.ops.global_config import GlobalConfig
from tests.random_params import STACKED_SCOPES, random_params

mm = oracle_import('alphafold.model.modules_multimer')
from alphafold.model import config as oracle_config  # noqa: E402

N, T, C_Z, C_M = 11, 3, 16, 24
pytestmark = requires_oracle


TOL = 1e-4


def _oracle_cfg():
  cfg = oracle_config.model_config('model_1_multimer_v3').model
  gc = cfg.global_config
  gc.bfloat16 = False
  gc.deterministic = True
  gc.subbatch_size = 100000
  gc.zero_init = False
  tcfg = cfg.embeddings_and_evoformer.template
  tcfg.template_pair_stack.num_block = 2
  return tcfg, gc


def our_config():
  cfg = MultimerTemplateConfig()
  return dataclasses.replace(cfg, template_pair_stack=dataclasses.replace(
      cfg.template_pair_stack, num_block=2))


def _inputs(seed):
  rng = np.random.default_rng(seed)
  aatype = rng.integers(0, 22, (T, N)).astype(np.int32)
  pos = rng.normal(size=(T, N, 37, 3)).astype(np.float32) * 4 + np.arange(N)[None, :, None, None]
  mask = (rng.random((T, N, 37)) > 0.15).astype(np.float32)
  mask[2] = 0.0  # an empty template slot
  asym = np.array([1] * 6 + [2] * 5)
  seq_mask = (np.arange(N) < 10).astype(np.float32)
  return {'template_aatype': jnp.asarray(aatype), 'template_all_atom_positions': jnp.asarray(pos),
          'template_all_atom_mask': jnp.asarray(mask)}, \
      jnp.asarray(rng.normal(size=(N, N, C_Z)).astype(np.float32)), \
      jnp.asarray(seq_mask[:, None] * seq_mask[None]), jnp.asarray(asym[:, None] == asym[None])


def test_template_pair_embedding_matches_oracle():
  tcfg, gc = _oracle_cfg()
  tb, query, pair_mask, multichain = _inputs(0)

  def theirs(tb, query):
    return mm.TemplateEmbedding(tcfg, gc)(query, tb, pair_mask, multichain, is_training=False)

  def ours(tb, query):
    return TemplateEmbedding(our_config(), GlobalConfig(deterministic=True, subbatch_size=None))(
        query, tb, pair_mask, multichain)

  t, o = hk.transform(theirs), hk.transform(ours)
  key = jax.random.PRNGKey(0)
  shapes = jax.eval_shape(t.init, key, tb, query)
  assert jax.tree_util.tree_map(lambda x: x.shape, jax.eval_shape(o.init, key, tb, query)) == \
      jax.tree_util.tree_map(lambda x: x.shape, shapes)
  params = random_params(shapes, seed=1, stacked=STACKED_SCOPES)
  a = jax.jit(t.apply)(params, key, tb, query)
  b = jax.jit(o.apply)(params, key, tb, query)
  err = float(jnp.max(jnp.abs(a - b)))
  print(f'template pair embedding max|d|={err:.2e} (scale {float(jnp.max(jnp.abs(a))):.2f})')
  assert err <= TOL


def test_template_rows_match_oracle():
  tb, *_ = _inputs(1)
  gc = _oracle_cfg()[1]
  t = hk.transform(lambda b: mm.template_embedding_1d(b, C_M, gc))
  o = hk.transform(lambda b: template_rows(b, C_M))
  shapes = jax.eval_shape(t.init, jax.random.PRNGKey(0), tb)
  assert jax.tree_util.tree_map(lambda x: x.shape, jax.eval_shape(o.init, jax.random.PRNGKey(0), tb)) \
      == jax.tree_util.tree_map(lambda x: x.shape, shapes)
  params = random_params(shapes, seed=2)
  (a, am), (b, bm) = t.apply(params, None, tb), o.apply(params, None, tb)
  np.testing.assert_array_equal(am, bm)
  err = float(jnp.max(jnp.abs(a - b)))
  print(f'template rows max|d|={err:.2e}')
  assert err <= TOL
