"""In-model MSA sampling/masking and the chain-aware relative encoding vs the oracle's
`alphafold.model.modules_multimer` functions, same keys and inputs (distinct axis sizes)."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from tests.oracle import oracle_import, requires_oracle

from alphafold_jax.model.multimer import msa_sampling as ours
from alphafold_jax.model.multimer.relative_encoding import embed_relative_encoding

mm = oracle_import('alphafold.model.modules_multimer')
from alphafold.model import prng  # noqa: E402
import ml_collections  # noqa: E402

M, N, S = 13, 11, 5  # MSA rows, residues, sampled centres


pytestmark = requires_oracle


def _batch(seed):
  rng = np.random.default_rng(seed)
  seq_mask = (np.arange(N) < 9).astype(np.float32)
  msa_mask = np.ones((M, N), np.float32) * seq_mask
  msa_mask[7] = 0.0  # an empty row (never a centre)
  bias = np.zeros(M)
  bias[[0, 4]] = 1  # two chain queries
  return {'msa': jnp.asarray(rng.integers(0, 22, (M, N)), jnp.int32),
          'deletion_matrix': jnp.asarray(rng.integers(0, 4, (M, N)) * (rng.random((M, N)) > .6),
                                         jnp.float32),
          'msa_mask': jnp.asarray(msa_mask),
          'bert_mask': jnp.asarray((rng.random((M, N)) > 0.2).astype(np.float32)),
          'cluster_bias_mask': jnp.asarray(bias),
          'seq_mask': jnp.asarray(seq_mask)}


def _config():
  return ml_collections.ConfigDict({
      'num_msa': S, 'use_cluster_profile': True,
      'masked_msa': {'profile_prob': 0.1, 'same_prob': 0.1, 'uniform_prob': 0.1,
                     'replace_fraction': 0.15}})


def test_sampling_masking_profiles_match_oracle():
  batch = _batch(0)
  key = jax.random.PRNGKey(42)
  sample_key, mask_key = jax.random.split(key)
  theirs = dict(batch, msa_profile=mm.make_msa_profile(batch))
  theirs = mm.sample(theirs, prng.SafeKey(sample_key), prng.SafeKey(mask_key), _config())
  mine = ours.sample_recycle_msa(batch, sample_key, mask_key, S, ours.MaskedMsaConfig())
  for k in ('msa', 'true_msa', 'bert_mask', 'msa_mask', 'deletion_matrix', 'extra_msa',
            'extra_msa_mask', 'extra_deletion_matrix', 'extra_bert_mask', 'msa_profile',
            'cluster_profile', 'cluster_deletion_mean'):
    np.testing.assert_allclose(mine[k], theirs[k], atol=1e-6, err_msg=k)
  # centres: both queries first, never the empty row
  assert set(np.asarray(mine['true_msa'][:2, 0])) <= set(np.asarray(batch['msa'][[0, 4], 0]))
  np.testing.assert_allclose(ours.msa_features(mine), mm.create_msa_feat(theirs), atol=1e-6)
  f_ours, m_ours = ours.extra_msa_features(mine, 6)
  f_theirs, m_theirs = mm.create_extra_msa_feature(theirs, 6)
  np.testing.assert_allclose(f_ours, f_theirs, atol=1e-6)
  np.testing.assert_allclose(m_ours, m_theirs)
  assert float(jnp.sum(mine['bert_mask'])) > 0  # some positions were masked


def test_padding_consistent_uniform_ignores_padding():
  key = jax.random.PRNGKey(3)
  small = ours.padding_consistent_uniform(key, (5, 7))
  big = ours.padding_consistent_uniform(key, (8, 9))
  np.testing.assert_array_equal(small, big[:5, :7])


def test_relative_encoding_matches_oracle():
  rng = np.random.default_rng(1)
  n = 13
  # chains: A1 (4 res), A2 (4 res, same entity), B1 (5 res); residue index restarts per chain
  asym = np.array([1] * 4 + [2] * 4 + [3] * 5)
  entity = np.array([1] * 8 + [2] * 5)
  sym = np.array([1] * 4 + [2] * 4 + [1] * 5)
  resid = np.concatenate([np.arange(4), np.arange(4), np.arange(5) * 20])
  batch = {'residue_index': jnp.asarray(resid), 'asym_id': jnp.asarray(asym, jnp.float32),
           'entity_id': jnp.asarray(entity, jnp.float32),
           'sym_id': jnp.asarray(sym, jnp.float32)}
  cfg = ml_collections.ConfigDict({'max_relative_idx': 3, 'max_relative_chain': 1,
                                   'use_chain_relative': True, 'pair_channel': 7})
  gc = ml_collections.ConfigDict({'bfloat16': False, 'half_dtype': 'float32',
                                  'kernel_backend': 'xla', 'zero_init': False,
                                  'compute_capability': None, 'use_pallas': False,
                                  'fp8': False})

  def theirs_fn(b):
    return mm.EmbeddingsAndEvoformer(cfg, gc)._relative_encoding(b)

  def ours_fn(b):
    with hk.experimental.name_scope('evoformer'):
      return embed_relative_encoding(b, 7, 3, 1)

  t = hk.transform(theirs_fn)
  params = t.init(jax.random.PRNGKey(0), batch)
  params = jax.tree_util.tree_map(lambda x: jax.random.normal(jax.random.PRNGKey(5), x.shape),
                                  params)
  # (the oracle's method called outside __call__ lands in a '~/_relative_encoding' scope)
  ours_params = {'evoformer/position_activations':
                 params['evoformer/~_relative_encoding/position_activations']}
  o = hk.transform(ours_fn)
  assert jax.tree_util.tree_map(jnp.shape, o.init(jax.random.PRNGKey(0), batch)) == \
      jax.tree_util.tree_map(jnp.shape, ours_params)
  a = t.apply(params, None, batch)
  b = o.apply(ours_params, None, batch)
  assert a.shape == (n, n, 7)
  print(f'relative encoding max|d|={float(jnp.max(jnp.abs(a - b))):.1e}')
  np.testing.assert_allclose(b, a, atol=1e-5)
