"""EMA of the parameters (closed form, exact resume, export) and --init-params (tiny_ca)."""

import jax
import numpy as np

from alphafold_jax.training import checkpoints as ckpt_lib
from alphafold_jax.training.config import TrainConfig
from alphafold_jax.training.data import ExampleSampler
from alphafold_jax.training.trainer import Trainer

DECAY = 0.75  # large enough that every term of the closed form matters after a few steps


def _config(**kw):
  return TrainConfig(batch_size=2, num_steps=4, learning_rate=1e-2, warmup_steps=1,
                     decay='constant', max_recycle=1, clip_global_norm=1., ema_decay=DECAY,
                     checkpoint_every=2, seed=5).replace(**kw)


def test_ema_equals_closed_form_and_resumes_bit_identically(tiny_preset, tiny_params,
                                                           tiny_examples, tmp_path):
  config = _config()
  sampler = ExampleSampler(tiny_examples, config.batch_size, config.seed)
  trainer = Trainer(tiny_preset.loss_fn, config)
  trajectory = []  # params after steps 1..k
  state = trainer.init_state(tiny_params)
  for step in range(config.num_steps):
    state, _ = trainer.step_fn(state, sampler(step))
    trajectory.append(jax.device_get(state.params))
  # ema_k = d^k p_0 + (1 - d) sum_{i=1..k} d^(k-i) p_i
  k = config.num_steps
  expected = jax.tree.map(lambda p0: DECAY ** k * np.asarray(p0, np.float64), tiny_params)
  for i, p in enumerate(trajectory, start=1):
    expected = jax.tree.map(lambda e, x: e + (1 - DECAY) * DECAY ** (k - i) * np.asarray(x),
                            expected, p)
  got = jax.device_get(state.ema_params)
  for e, g in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
    np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
  assert any(not np.allclose(a, b) for a, b in
             zip(jax.tree.leaves(got), jax.tree.leaves(jax.device_get(state.params))))

  # Kill after 3 steps (checkpoint at 2), resume: EMA bit-identical to the straight run; the
  # exported params.npz is the EMA.
  full = trainer.fit(tiny_params, sampler, out_dir=tmp_path / 'full', progress=False)
  trainer.fit(tiny_params, sampler, out_dir=tmp_path / 'cut', progress=False, stop_after=3)
  resumed = trainer.fit(tiny_params, sampler, out_dir=tmp_path / 'cut', resume=True,
                        progress=False)
  assert resumed.resumed_from == 2
  for a, b in zip(jax.tree.leaves(jax.device_get(resumed.state.ema_params)),
                  jax.tree.leaves(jax.device_get(full.state.ema_params))):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(jax.tree.leaves(jax.device_get(full.state.ema_params)), jax.tree.leaves(got)):
    np.testing.assert_array_equal(a, b)  # fit == the hand-stepped run
  exported = ckpt_lib.load_init_params(tmp_path / 'full' / 'params.npz', tiny_params)
  for a, b in zip(jax.tree.leaves(exported), jax.tree.leaves(got)):
    np.testing.assert_array_equal(np.asarray(a), b)


def test_init_params_reproduces_first_step_loss(tiny_preset, tiny_params, tiny_examples,
                                                tmp_path):
  config = _config(num_steps=1, ema_decay=0.0)
  sampler = ExampleSampler(tiny_examples, config.batch_size, config.seed)
  trainer = Trainer(tiny_preset.loss_fn, config)
  # Parameters "from elsewhere": the in-memory ones perturbed, written in AF2's npz layout.
  given = jax.tree.map(lambda x: np.asarray(x) * 1.5 + 0.01, jax.device_get(tiny_params))
  path = tmp_path / 'given.npz'
  ckpt_lib.export_params(given, path)
  fresh = tiny_preset.init(jax.random.PRNGKey(123), tiny_examples[0])  # another random init
  loaded = ckpt_lib.load_init_params(path, fresh)
  from_file = trainer.fit(loaded, sampler, progress=False)
  in_memory = trainer.fit(given, sampler, progress=False)
  other = trainer.fit(fresh, sampler, progress=False)
  assert from_file.losses[1] == in_memory.losses[1]
  assert from_file.losses[1] != other.losses[1]
