"""Input / relpos / recycling / extra-MSA embedders vs the AF2 oracle.

What is compared: the oracle's `EmbeddingsAndEvoformer` (model_1_ptm widths, fp32, templates
off) run with its Evoformer and extra-MSA iterations intercepted as identity maps, so its
outputs 'pair' and 'msa' are exactly the embedded pair (left/right single + recycled
distogram + prev_pair norm + relpos) and the embedded MSA (preprocess_1d/msa + prev first
row), and the captured output of its `extra_msa_activations` layer is the extra-MSA
embedding. Ours run inside a module named 'evoformer' with the SAME parameter dict.
"""

import functools

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.model import embedders
from tests.oracle import requires_oracle
from tests.random_params import random_params

pytestmark = requires_oracle

TOL = 1e-4
N_RES, N_REAL, N_SEQ, N_EXTRA = 11, 8, 5, 7


def make_batch(seed, n_res=N_RES, n_real=N_REAL, n_seq=N_SEQ, n_extra=N_EXTRA, gaps=True):
  """Random AF2-style features; residues >= n_real are padding (masks 0, junk features)."""
  rng = np.random.default_rng(seed)
  seq_mask = (np.arange(n_res) < n_real).astype(np.float32)
  residue_index = np.arange(n_res) + (np.cumsum(rng.integers(0, 30, n_res)) if gaps else 0)
  aatype = rng.integers(0, 21, n_res)
  return {
      'aatype': aatype,
      'target_feat': rng.normal(size=(n_res, 22)).astype(np.float32),
      'msa_feat': rng.normal(size=(n_seq, n_res, 49)).astype(np.float32),
      'seq_mask': seq_mask,
      'msa_mask': np.ones((n_seq, n_res), np.float32) * seq_mask,
      'residue_index': residue_index.astype(np.int32),
      'prev_pos': (rng.normal(size=(n_res, 37, 3)) * 8).astype(np.float32),
      'prev_msa_first_row': rng.normal(size=(n_res, 256)).astype(np.float32),
      'prev_pair': rng.normal(size=(n_res, n_res, 128)).astype(np.float32),
      'extra_msa': rng.integers(0, 23, (n_extra, n_res)),
      'extra_has_deletion': (rng.random((n_extra, n_res)) > 0.7).astype(np.float32),
      'extra_deletion_value': rng.random((n_extra, n_res)).astype(np.float32),
      'extra_msa_mask': np.ones((n_extra, n_res), np.float32) * seq_mask,
  }


class OurEmbeddings(hk.Module):
  """The embedding part of AF2's EmbeddingsAndEvoformer, wired from our functions."""

  def __init__(self, name='evoformer'):
    super().__init__(name=name)

  def __call__(self, batch):
    msa, pair = embedders.embed_inputs(batch, embedders.InputEmbedderConfig())
    msa_row, pair_update = embedders.embed_recycling(
        batch, batch['aatype'], embedders.RecyclingEmbedderConfig())
    msa = msa.at[0].add(msa_row)
    pair = pair + pair_update
    extra = embedders.embed_extra_msa(batch, embedders.ExtraMsaEmbedderConfig())
    return {'msa': msa, 'pair': pair, 'extra': extra}


@functools.lru_cache(maxsize=None)
def _ours():
  return hk.transform(lambda b: OurEmbeddings()(b))


def _oracle():
  from alphafold.model import config as oracle_config
  from alphafold.model import modules
  cfg = oracle_config.model_config('model_1_ptm')
  gc = cfg.model.global_config
  gc.bfloat16 = False
  ev = cfg.model.embeddings_and_evoformer
  ev.template.enabled = False
  ev.evoformer_num_block = 1
  ev.extra_msa_stack_num_block = 1

  def fwd(batch):
    captured = {}

    def interceptor(next_f, args, kwargs, context):
      if isinstance(context.module, modules.EvoformerIteration) and context.method_name == '__call__':
        return kwargs['activations']  # identity: expose the embeddings
      out = next_f(*args, **kwargs)
      if context.module.module_name.endswith('extra_msa_activations'):
        captured['extra'] = out
      return out

    with hk.intercept_methods(interceptor):
      out = modules.EmbeddingsAndEvoformer(ev, gc)(batch, is_training=False)
    return {'msa': out['msa'], 'pair': out['pair'], 'extra': captured['extra']}

  return hk.transform(fwd)


@pytest.mark.parametrize('with_asym', [False, True])
def test_embeddings_match_oracle(with_asym):
  batch = make_batch(seed=1 + with_asym)
  if with_asym:
    batch['asym_id'] = (np.arange(N_RES) >= 4).astype(np.int32) + 1
  oracle = _oracle()
  key = jax.random.PRNGKey(0)
  params = random_params(jax.eval_shape(oracle.init, key, batch), seed=3)
  ref = jax.jit(oracle.apply)(params, key, batch)
  ours_params = jax.eval_shape(_ours().init, key, batch)
  oracle_names = {f'{m}/{n}' for m in params for n in params[m]} - {
      'evoformer/single_activations/weights', 'evoformer/single_activations/bias'}
  assert {f'{m}/{n}' for m in ours_params for n in ours_params[m]} == oracle_names
  out = jax.jit(_ours().apply)(params, key, batch)
  for k in ('msa', 'pair', 'extra'):
    assert out[k].shape == ref[k].shape
    d = float(jnp.abs(out[k] - ref[k]).max())
    assert d <= TOL, (k, d)
    assert float(jnp.abs(ref[k]).max()) > 1.0  # non-trivial values compared


def test_dgram_pseudo_beta_relpos_hand_checked():
  from alphafold.model import modules
  rng = np.random.default_rng(4)
  pos = (rng.normal(size=(13, 3)) * 10).astype(np.float32)
  bins = embedders.DistogramBins(3.25, 20.75, 15)
  dg = np.asarray(embedders.dgram_from_positions(jnp.asarray(pos), bins))
  dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
  edges = np.linspace(3.25, 20.75, 15)
  expected = np.clip(np.searchsorted(edges, dist) - 1, 0, None)
  expected_1hot = np.eye(15)[expected] * (dist > 3.25)[..., None]
  np.testing.assert_array_equal(dg, expected_1hot)
  np.testing.assert_array_equal(dg, np.asarray(modules.dgram_from_positions(pos, 15, 3.25, 20.75)))

  aatype = rng.integers(0, 21, 13)
  aatype[[2, 5]] = 7  # glycine -> CA
  atoms = rng.normal(size=(13, 37, 3)).astype(np.float32)
  mask = (rng.random((13, 37)) > 0.3).astype(np.float32)
  pb, pbm = embedders.pseudo_beta_fn(jnp.asarray(aatype), jnp.asarray(atoms), jnp.asarray(mask))
  rpb, rpbm = modules.pseudo_beta_fn(jnp.asarray(aatype), jnp.asarray(atoms), jnp.asarray(mask))
  np.testing.assert_array_equal(pb, rpb)
  np.testing.assert_array_equal(pbm, rpbm)
  np.testing.assert_array_equal(pb[2], atoms[2, 1])  # CA of glycine

  ri = np.array([0, 1, 2, 40, 41, 100, 99])
  rel = np.asarray(embedders.relative_position_features(jnp.asarray(ri), 32))
  assert rel.shape == (7, 7, 65)
  idx = np.clip(ri[:, None] - ri[None, :] + 32, 0, 64)
  np.testing.assert_array_equal(rel.argmax(-1), idx)
  np.testing.assert_array_equal(rel.sum(-1), np.ones((7, 7)))


def test_padding_invariance_and_gradients():
  big = make_batch(seed=6, n_res=N_RES, n_real=N_REAL, n_seq=N_SEQ + 2)
  small = {k: v for k, v in big.items()}
  for k in ('aatype', 'target_feat', 'seq_mask', 'residue_index', 'prev_pos', 'prev_msa_first_row'):
    small[k] = big[k][:N_REAL]
  small['prev_pair'] = big['prev_pair'][:N_REAL, :N_REAL]
  for k in ('msa_feat', 'msa_mask'):
    small[k] = big[k][:N_SEQ, :N_REAL]
  for k in ('extra_msa', 'extra_has_deletion', 'extra_deletion_value', 'extra_msa_mask'):
    small[k] = big[k][:, :N_REAL]
  model = _ours()
  key = jax.random.PRNGKey(2)
  params = random_params(jax.eval_shape(model.init, key, big), seed=5)
  ob = jax.jit(model.apply)(params, key, big)
  os_ = jax.jit(model.apply)(params, key, small)
  assert float(jnp.abs(ob['msa'][:N_SEQ, :N_REAL] - os_['msa']).max()) <= 1e-5
  assert float(jnp.abs(ob['pair'][:N_REAL, :N_REAL] - os_['pair']).max()) <= 1e-5
  assert float(jnp.abs(ob['extra'][:, :N_REAL] - os_['extra']).max()) <= 1e-5

  def loss(p, prev_pair):
    out = model.apply(p, key, dict(small, prev_pair=prev_pair))
    return sum(jnp.sum(jnp.sin(v)) for v in out.values())

  gp, gx = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, small['prev_pair'])
  leaves = jax.tree_util.tree_leaves((gp, gx))
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
  assert all(float(jnp.abs(g).max()) > 0 for g in leaves)


def test_recycling_switches_and_errors():
  batch = make_batch(seed=8, n_res=5, n_real=5)
  cfg = embedders.RecyclingEmbedderConfig(recycle_pos=False, recycle_features=False)
  f = hk.transform(lambda b: embedders.embed_recycling(b, b['aatype'], cfg))
  p = f.init(jax.random.PRNGKey(0), batch)
  assert p == {}
  msa_row, pair = f.apply(p, None, batch)
  assert msa_row is None and pair.shape == (5, 5, 128) and not np.any(pair)
  state = embedders.initial_recycling_state(5)
  assert state['prev_pos'].shape == (5, 37, 3) and state['prev_pair'].shape == (5, 5, 128)
  with pytest.raises(ValueError, match='prev_pos'):
    hk.transform(lambda b: embedders.embed_recycling(
        b, b['aatype'], embedders.RecyclingEmbedderConfig())).init(
            jax.random.PRNGKey(0), {'aatype': batch['aatype']})
  with pytest.raises(ValueError, match='residues'):
    bad = dict(batch, msa_feat=batch['msa_feat'][:, :3])
    hk.transform(lambda b: embedders.embed_inputs(b, embedders.InputEmbedderConfig())).init(
        jax.random.PRNGKey(0), bad)
