"""Training draws AF2's clamped/unclamped backbone FAPE per example (Suppl. 1.11.5)."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.config import model_config
from alphafold_jax.training import af2_presets
from alphafold_jax.training.af2_presets import with_fape_clamping
from alphafold_jax.training.config import TrainConfig, TrainConfigError


@pytest.mark.parametrize('fraction', [0.0, 0.9, 1.0])
def test_flag_follows_the_configured_fraction(fraction):
  example = {'aatype': jnp.arange(5)}
  keys = jax.random.split(jax.random.PRNGKey(0), 4000)
  flags = jax.vmap(lambda k: with_fape_clamping(example, k, fraction)['use_clamped_fape'])(keys)
  flags = np.asarray(flags)
  assert set(np.unique(flags)) <= {0.0, 1.0}
  # 4000 draws: the standard error of the mean at p = 0.9 is 0.005.
  assert abs(flags.mean() - fraction) <= 0.02
  again = with_fape_clamping(example, keys[7], fraction)
  assert float(again['use_clamped_fape']) == flags[7]  # a pure function of the key
  assert np.array_equal(again['aatype'], example['aatype'])
  assert 'use_clamped_fape' not in example  # the input is not modified


def test_default_is_af2_and_bad_fraction_fails():
  assert TrainConfig().clamped_fape_fraction == 0.9
  with pytest.raises(TrainConfigError, match='clamped_fape_fraction'):
    TrainConfig(clamped_fape_fraction=1.5)


@pytest.mark.parametrize('fraction', [0.0, 1.0])
def test_loss_fn_hands_the_flag_to_the_losses(monkeypatch, fraction):
  # Stand-ins for the model and the losses: only the wiring is under test (the full model
  # compiles for about a minute; tests/losses check how backbone FAPE uses the flag).
  seen = []
  monkeypatch.setattr(af2_presets, 'make_forward',
                      lambda config: hk.transform(lambda ex, n, t: {'x': jnp.zeros(())}))
  monkeypatch.setattr(af2_presets, 'alphafold_loss',
                      lambda pred, ex, cfg: (seen.append(ex['use_clamped_fape']) or jnp.zeros(()), {}))
  _, loss_fn, _ = af2_presets.build(model_config('tiny'),
                                    train_config=TrainConfig(clamped_fape_fraction=fraction))
  loss_fn({}, {'aatype': jnp.zeros(3, jnp.int32)}, jax.random.PRNGKey(1), 0)
  assert float(seen[0]) == fraction
