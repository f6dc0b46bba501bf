"""nano_diffusion preset (Pairformer trunk + SE(3) diffusion): loss/grads finite, padding
invariance, a tiny overfit (Adam, fixed noise draw), deterministic sampling."""

import jax
import numpy as np
import optax
import pytest

from alphafold_jax.model.diffusion.config import DenoiserConfig, SamplerConfig, SE3DiffusionConfig
from alphafold_jax.model.heads.distogram import DistogramHeadConfig
from alphafold_jax.training import diffusion_presets as dp
from alphafold_jax.training import presets
from tests.random_params import DIFFUSION_STD, STACKED_SCOPES, random_params

# Distinct small widths so a transposed axis cannot pass.
TINY = dp.DiffusionModelConfig(
    single_channel=7, pair_channel=5, max_relative_feature=4, num_pairformer_block=1,
    pairformer=dp.small_pairformer_block(num_pair_head=1, num_single_head=1,
                                         num_intermediate_channel=3),
    denoiser=DenoiserConfig(num_block=1, num_channel=11, num_pair_channel=3, num_time_channel=4,
                            num_head=2, num_scalar_qk=3, num_scalar_v=3, num_point_qk=2,
                            num_point_v=2),
    diffusion=SE3DiffusionConfig(sampler=SamplerConfig(num_steps=3, noise_scale=0.5)),
    distogram=DistogramHeadConfig(num_bins=7), distogram_weight=0.3,
    num_noise_samples=3)
PADDED = 3  # tiny_examples[3]: 9 real residues + 4 padded (conftest)


@pytest.fixture(scope='module')
def model(tiny_examples):
  """(random non-trivial params, jitted value_and_grad of the loss, jitted predict_ca).

  Random params instead of the init's: with AF2's zero-init final layers the trunk gets no
  gradient at step 0, and skipping init's compilation keeps the test fast."""
  init, loss_fn, predict_ca = dp.build(TINY)
  params = random_params(jax.eval_shape(init, jax.random.PRNGKey(0), tiny_examples[0]), seed=1,
                         stacked=STACKED_SCOPES, **DIFFUSION_STD)
  grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
  return params, grad_fn, jax.jit(predict_ca)


def _scramble_padding(example, seed=0):
  """Same example with random content in the padded residues (seq_mask 0 there)."""
  rng = np.random.RandomState(seed)
  pad = np.asarray(example['seq_mask']) == 0
  assert pad.sum() == 4
  out = dict(example)
  out['aatype'] = np.where(pad, rng.randint(0, 20, pad.shape), example['aatype']).astype(np.int32)
  out['residue_index'] = np.where(pad, rng.randint(0, 99, pad.shape),
                                  example['residue_index']).astype(np.int32)
  pos = rng.randn(*example['all_atom_positions'].shape).astype(np.float32) * 20.
  out['all_atom_positions'] = np.where(pad[:, None, None], pos, example['all_atom_positions'])
  out['all_atom_mask'] = np.where(pad[:, None], 1., example['all_atom_mask']).astype(np.float32)
  return out


def _norm(tree):
  return float(optax.global_norm(tree))


def test_preset_registered_and_init_shapes(tiny_examples):
  preset = presets.get_preset('nano_diffusion')
  assert 'nano_diffusion' in presets.preset_names()
  assert preset.train_config.max_recycle == 0 and not preset.train_config.sample_recycle
  shapes = jax.eval_shape(preset.init, jax.random.PRNGKey(0), tiny_examples[0])
  scopes = {k.split('/')[0] for k in shapes}
  assert scopes == {'diffusion_trunk', 'frame_denoiser'}
  assert 'diffusion_trunk/distogram_head/half_logits' in shapes
  assert 'frame_denoiser/self_condition_projection' in shapes
  # Pairformer stack parameters carry the [num_block] axis.
  attn = shapes['diffusion_trunk/pairformer_block/triangle_attention_starting_node']
  assert attn['feat_2d_weights'].shape[0] == dp.DiffusionModelConfig().num_pairformer_block
  with pytest.raises(ValueError, match='min_t'):
    dp.DiffusionModelConfig(min_t=0.)


def test_loss_and_grads_finite_and_reach_trunk(model, tiny_examples):
  params, grad_fn, _ = model
  for ex in (tiny_examples[1], tiny_examples[PADDED]):
    (loss, metrics), grads = grad_fn(params, ex, jax.random.PRNGKey(3), 0)
    assert np.isfinite(float(loss)) and float(loss) > 0
    assert {'diffusion_rotation', 'diffusion_translation', 'diffusion_fape',
            'distogram_loss'} <= set(metrics)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))
    trunk = {k: v for k, v in grads.items() if k.startswith('diffusion_trunk/pairformer')}
    denoiser = {k: v for k, v in grads.items() if k.startswith('frame_denoiser/')}
    assert trunk and denoiser and _norm(trunk) > 0 and _norm(denoiser) > 0
  # The noise draw depends on the key.
  (other, _), _ = grad_fn(params, tiny_examples[PADDED], jax.random.PRNGKey(4), 0)
  assert float(other) != float(loss)


def test_padding_does_not_change_loss_grads_or_prediction(model, tiny_examples):
  params, grad_fn, predict = model
  ex = tiny_examples[PADDED]
  scrambled = _scramble_padding(ex)
  key = jax.random.PRNGKey(11)
  (loss_a, _), grads_a = grad_fn(params, ex, key, 0)
  (loss_b, _), grads_b = grad_fn(params, scrambled, key, 0)
  np.testing.assert_allclose(float(loss_b), float(loss_a), rtol=1e-5)
  for a, b in zip(jax.tree.leaves(grads_a), jax.tree.leaves(grads_b)):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-3, atol=1e-5)
  a = np.asarray(predict(params, ex, key))
  b = np.asarray(predict(params, scrambled, key))
  np.testing.assert_allclose(b[:9], a[:9], atol=1e-3)
  np.testing.assert_array_equal(a[9:], 0.)


def test_predict_ca_deterministic_for_a_key(model, tiny_examples):
  params, _, predict = model
  ex = tiny_examples[1]
  a = np.asarray(predict(params, ex, jax.random.PRNGKey(0)))
  b = np.asarray(predict(params, ex, jax.random.PRNGKey(0)))
  c = np.asarray(predict(params, ex, jax.random.PRNGKey(1)))
  assert a.shape == (13, 3) and np.all(np.isfinite(a))
  np.testing.assert_array_equal(a, b)
  assert np.max(np.abs(a - c)) > 0.1
  np.testing.assert_allclose(a.mean(0), 0., atol=1e-3)  # centred samples
  # Consecutive CA of a sample are spread out (not a collapsed point cloud).
  assert np.median(np.linalg.norm(np.diff(a, axis=0), axis=-1)) > 0.5


def test_tiny_overfit(model, tiny_examples):
  """Adam on one example and one fixed noise draw: the loss falls, nothing turns NaN.
  (Adam in NumPy: a jitted optax update over ~100 leaves would cost seconds to compile.)"""
  params, grad_fn, _ = model
  params = jax.tree.map(np.asarray, params)
  moments = [jax.tree.map(np.zeros_like, params) for _ in range(2)]
  ex, key = tiny_examples[2], jax.random.PRNGKey(21)
  losses = []
  for step in range(1, 16):
    (loss, _), grads = grad_fn(params, ex, key, 0)
    losses.append(float(loss))
    grads = jax.tree.map(np.asarray, grads)
    moments[0] = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, moments[0], grads)
    moments[1] = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, moments[1], grads)
    params = jax.tree.map(
        lambda p, m, v: p - 1e-2 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8),
        params, *moments)
  assert np.all(np.isfinite(losses))
  assert losses[-1] < 0.6 * losses[0], losses



def test_preset_examples_take_a_train_step(model, tiny_named):
  """Examples of the preset's kind (structure-only, built per step by the one builder) take a
  gradient step of the tiny-width model: finite loss, the step lowers it. (Crop 13 instead of
  the preset's 80 re-uses the compiled gradient; the preset's own crop is checked for shape.)"""
  from alphafold_jax.training import data as data_lib
  preset = presets.get_preset('nano_diffusion')
  assert preset.crop_size == 80 and preset.feature_config is None
  own = data_lib.DatasetSampler(preset.make_examples(tiny_named[:2], seed=1), 1)(0)
  assert own['aatype'].shape == (1, 36) and own['all_atom_positions'].shape == (1, 36, 37, 3)
  examples = presets.training_examples(tiny_named, 13, preset.feature_config, seed=1)
  batch = data_lib.DatasetSampler(examples, 1)(2)
  example = {k: v[0] for k, v in batch.items()}
  params, grad_fn, _ = model
  key = jax.random.PRNGKey(5)
  (loss, _), grads = grad_fn(params, example, key, 0)
  assert np.isfinite(float(loss)) and _norm(grads) > 0
  scale = 1e-3 / _norm(grads)
  stepped = jax.tree.map(lambda p, g: np.asarray(p) - scale * np.asarray(g), params, grads)
  (after, _), _ = grad_fn(stepped, example, key, 0)
  assert float(after) < float(loss)
