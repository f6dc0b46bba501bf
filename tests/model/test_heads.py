"""Output heads and confidence metrics vs the alphafold oracle (random params, fp32)."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.model import heads
from tests.oracle import requires_oracle
from tests.random_params import random_params

pytestmark = requires_oracle

N_SEQ, N_RES, C_M, C_Z, C_S, C_SM = 5, 13, 256, 128, 384, 384
GC = GlobalConfig(deterministic=True)


def _oracle_heads():
  from alphafold.model import config
  cfg = config.model_config('model_1_ptm')
  cfg.model.global_config.bfloat16 = False
  return cfg.model.heads, cfg.model.global_config


def _reps(seed):
  rng = np.random.default_rng(seed)
  f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)
  return {'msa': f(N_SEQ, N_RES, C_M), 'pair': f(N_RES, N_RES, C_Z), 'single': f(N_RES, C_S),
          'structure_module': f(N_RES, C_SM)}


# (our head class, our config, oracle attribute in modules, oracle config key, our input key)
HEADS = [
    (heads.DistogramHead, heads.DistogramHeadConfig(), 'DistogramHead', 'distogram', 'pair'),
    (heads.MaskedMsaHead, heads.MaskedMsaHeadConfig(), 'MaskedMsaHead', 'masked_msa', 'msa'),
    (heads.PredictedLDDTHead, heads.PredictedLDDTHeadConfig(), 'PredictedLDDTHead',
     'predicted_lddt', 'structure_module'),
    (heads.PredictedAlignedErrorHead, heads.PredictedAlignedErrorHeadConfig(),
     'PredictedAlignedErrorHead', 'predicted_aligned_error', 'pair'),
    (heads.ExperimentallyResolvedHead, heads.ExperimentallyResolvedHeadConfig(),
     'ExperimentallyResolvedHead', 'experimentally_resolved', 'single'),
]


@pytest.mark.parametrize('ours_cls,ours_cfg,oracle_name,cfg_key,inp', HEADS,
                         ids=[h[3] for h in HEADS])
def test_head_matches_oracle(ours_cls, ours_cfg, oracle_name, cfg_key, inp):
  from alphafold.model import modules
  head_cfgs, ogc = _oracle_heads()
  reps = _reps(0)
  oracle = hk.transform(
      lambda r: getattr(modules, oracle_name)(head_cfgs[cfg_key], ogc)(r, None, False))
  ours = hk.transform(lambda x: ours_cls(ours_cfg, GC)(x))
  shapes = jax.eval_shape(oracle.init, jax.random.PRNGKey(0), reps)
  our_shapes = jax.eval_shape(ours.init, jax.random.PRNGKey(0), reps[inp])
  assert jax.tree_util.tree_map(lambda s: s.shape, our_shapes) == \
      jax.tree_util.tree_map(lambda s: s.shape, shapes)
  params = random_params(shapes, 1)
  ref = oracle.apply(params, None, reps)
  out = ours.apply(params, None, reps[inp])
  assert set(out) == set(ref), (set(out), set(ref))
  for k in ref:
    d = float(np.max(np.abs(np.asarray(out[k]) - np.asarray(ref[k]))))
    print(f'{cfg_key}/{k}: max|d| {d:.2e}')
    assert np.asarray(out[k]).shape == np.asarray(ref[k]).shape
    assert d <= 1e-5 * max(1.0, float(np.max(np.abs(ref[k]))))
  assert float(np.std(np.asarray(out['logits']))) > 0.1  # non-trivial logits


def test_head_configs_match_af2():
  head_cfgs, _ = _oracle_heads()
  for _, cfg, _, key, _ in HEADS:
    ref = head_cfgs[key]
    for field in cfg.__dataclass_fields__:
      assert getattr(cfg, field) == ref[field], (key, field)


def test_distogram_symmetric_and_edges():
  pair = _reps(3)['pair']
  f = hk.transform(lambda x: heads.DistogramHead(heads.DistogramHeadConfig(),
                                                 GlobalConfig(zero_init=False))(x))
  out = f.apply(f.init(jax.random.PRNGKey(0), pair), None, pair)
  np.testing.assert_allclose(out['logits'], np.swapaxes(out['logits'], 0, 1), atol=1e-6)
  edges = np.asarray(out['bin_edges'])
  assert edges.shape == (63,) and edges[0] == pytest.approx(2.3125)
  assert edges[-1] == pytest.approx(21.6875)
  assert np.allclose(np.diff(edges), 0.3125)


def test_confidence_matches_oracle():
  from alphafold.common import confidence
  rng = np.random.default_rng(4)
  plddt_logits = rng.normal(size=(N_RES, 50)).astype(np.float32) * 3
  pae_logits = rng.normal(size=(N_RES, N_RES, 64)).astype(np.float32) * 3
  breaks = np.linspace(0., 31., 63).astype(np.float32)
  mask = np.r_[np.ones(N_RES - 4), np.zeros(4)].astype(np.float32)

  np.testing.assert_allclose(heads.compute_plddt(jnp.asarray(plddt_logits)),
                             confidence.compute_plddt(plddt_logits), atol=1e-4)
  ours = heads.compute_predicted_aligned_error(jnp.asarray(pae_logits), jnp.asarray(breaks))
  ref = confidence.compute_predicted_aligned_error(pae_logits, breaks)
  for k in ref:
    np.testing.assert_allclose(ours[k], ref[k], atol=1e-4, err_msg=k)
  assert float(ours['max_predicted_aligned_error']) == pytest.approx(31.75)
  for weights in (None, mask):
    ptm = heads.predicted_tm_score(jnp.asarray(pae_logits), jnp.asarray(breaks),
                                   None if weights is None else jnp.asarray(weights))
    ref_ptm = confidence.predicted_tm_score(pae_logits, breaks, residue_weights=weights)
    assert float(ptm) == pytest.approx(float(ref_ptm), abs=1e-6)
  asym = np.r_[np.zeros(6), np.ones(N_RES - 6)].astype(np.int32)
  iptm = heads.predicted_tm_score(jnp.asarray(pae_logits), jnp.asarray(breaks),
                                  jnp.asarray(mask), jnp.asarray(asym))
  ref_iptm = confidence.predicted_tm_score(pae_logits, breaks, residue_weights=mask,
                                           asym_id=asym)
  assert float(iptm) == pytest.approx(float(ref_iptm), abs=1e-6)


def test_ptm_extremes_and_d0():
  # All probability on one error bin -> pTM = TM term of that bin centre, exactly.
  n = 60
  breaks = jnp.linspace(0., 31., 63)
  d0 = 1.24 * (n - 15) ** (1 / 3) - 1.8
  for b, centre in ((0, 0.25), (63, 31.75)):
    logits = jnp.full((n, n, 64), -40.).at[..., b].set(40.)
    expected = 1 / (1 + centre ** 2 / d0 ** 2)
    assert float(heads.predicted_tm_score(logits, breaks)) == pytest.approx(expected, rel=1e-5)
  # d0 from TM-score: 1.24 * (N - 15)^(1/3) - 1.8, N clipped at 19.
  assert float(heads.tm_score_d0(100.)) == pytest.approx(1.24 * 85 ** (1 / 3) - 1.8, rel=1e-6)
  assert float(heads.tm_score_d0(5.)) == pytest.approx(float(heads.tm_score_d0(19.)))


def test_confidence_grads_finite():
  rng = np.random.default_rng(5)
  plddt_logits = jnp.asarray(rng.normal(size=(N_RES, 50)), jnp.float32)
  pae_logits = jnp.asarray(rng.normal(size=(N_RES, N_RES, 64)), jnp.float32)
  plddt = heads.compute_plddt(plddt_logits)
  assert plddt.shape == (N_RES,) and float(plddt.min()) > 0 and float(plddt.max()) < 100
  mask = jnp.asarray(np.r_[np.ones(N_RES - 3), np.zeros(3)], jnp.float32)
  loss = lambda a, b: (heads.compute_plddt(a).sum() +
                       heads.predicted_tm_score(b, jnp.linspace(0., 31., 63), mask))
  ga, gb = jax.jit(jax.grad(loss, argnums=(0, 1)))(plddt_logits, pae_logits)
  assert np.all(np.isfinite(np.asarray(ga))) and np.all(np.isfinite(np.asarray(gb)))
  assert float(jnp.abs(gb).sum()) > 0


@pytest.mark.parametrize('cls,cfg,bad', [
    (heads.DistogramHead, heads.DistogramHeadConfig(), (N_RES, N_RES - 1, C_Z)),
    (heads.PredictedLDDTHead, heads.PredictedLDDTHeadConfig(), (N_RES, N_RES, C_Z)),
    (heads.MaskedMsaHead, heads.MaskedMsaHeadConfig(), (N_RES, C_M)),
])
def test_bad_shapes_raise(cls, cfg, bad):
  f = hk.transform(lambda x: cls(cfg, GC)(x))
  with pytest.raises(ValueError, match='expects'):
    f.init(jax.random.PRNGKey(0), jnp.zeros(bad))
