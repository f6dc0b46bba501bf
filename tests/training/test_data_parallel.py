"""Data parallelism: a step on a 4-device mesh == the single-device step (<= 1e-5).

XLA_FLAGS must be set before JAX initialises, so the comparison runs in a fresh
subprocess with --xla_force_host_platform_device_count=4 (4 CPU "devices").
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import json, sys
    import jax, jax.numpy as jnp, numpy as np, optax
    from alphafold_jax.common import protein as protein_lib
    from alphafold_jax.training import presets, sharding
    from alphafold_jax.training.config import TrainConfig
    from alphafold_jax.training.data import stack_examples
    from alphafold_jax.training.optimizer import make_optimizer
    from alphafold_jax.training.state import create_train_state
    from alphafold_jax.training.train_step import jit_train_step, make_train_step
    from data_pipeline import examples as examples_lib

    assert jax.device_count() == 4, jax.devices()
    nano = sys.argv[1]
    named = [(n, protein_lib.from_file(f'{nano}/{n}.pdb')) for n in ('1L2Y', '1VII', '1CRN', '2GB1')]
    built = presets.training_examples(named, 11, None)
    examples = [built.example(i) for i in range(len(built))]
    short = examples_lib.ExampleSet(built.sources[:1], examples_lib.ExampleConfig(
        crop_size=7, buckets=None, num_res=11, feature_config=None))
    examples.append(short.example(0))  # 7 residues + 4 padded
    batch = stack_examples(examples + examples[:3])  # B = 8 -> 2 examples per device
    preset = presets.get_preset('tiny_ca')
    params = preset.init(jax.random.PRNGKey(1), examples[0])
    params = jax.tree.map(lambda x: x + 0.02 * jnp.cos(jnp.arange(x.size).reshape(x.shape)), params)
    config = TrainConfig(max_recycle=3, clip_global_norm=0.3, warmup_steps=0, learning_rate=1e-2)
    capture = optax.GradientTransformation(  # state = last gradient
        init=lambda p: jax.tree.map(jnp.zeros_like, p),
        update=lambda g, s, p=None: (jax.tree.map(jnp.zeros_like, g), g))
    out = {}
    for name, opt in (('grad', capture), ('adam', make_optimizer(config))):
      results = {}
      for n_dev in (1, 4):
        mesh = sharding.make_mesh('data', jax.devices()[:n_dev])
        state = sharding.replicate(create_train_state(params, opt, jax.random.PRNGKey(5)), mesh)
        step = jit_train_step(make_train_step(preset.loss_fn, opt, config), mesh, 'data')
        losses = []
        for _ in range(3):
          b = sharding.shard_batch(batch, mesh, 'data')
          if n_dev == 4:
            assert len(b['aatype'].sharding.device_set) == 4
            assert b['aatype'].addressable_shards[0].data.shape == (2, 11)
          state, m = step(state, b)
          losses.append(float(m['loss']))
        assert len(state.params[next(iter(state.params))]['weights'].sharding.device_set) == n_dev
        results[n_dev] = (losses, [np.asarray(x) for x in jax.tree.leaves(state)], int(m['num_recycle']))
      (l1, s1, r1), (l4, s4, r4) = results[1], results[4]
      floats = [(a, b) for a, b in zip(s1, s4) if a.dtype == np.float32]
      out[name] = {
          'loss_diff': max(abs(a - b) for a, b in zip(l1, l4)),
          'loss_rel_diff': max(abs(a - b) / abs(a) for a, b in zip(l1, l4)),
          'float_state_diff': max(float(np.max(np.abs(a - b))) for a, b in floats),
          'float_state_scale': max(float(np.max(np.abs(a))) for a, _ in floats),
          'int_state_equal': all(np.array_equal(a, b) for a, b in zip(s1, s4) if a.dtype != np.float32),
          'recycles_equal': r1 == r4, 'losses': l1}
    try:
      sharding.shard_batch({k: v[:6] for k, v in batch.items()}, mesh, 'data')
      out['indivisible_error'] = None
    except sharding.ShardingError as e:
      out['indivisible_error'] = str(e)
    print('RESULT' + json.dumps(out))
''')


def test_four_device_step_equals_single_device():
  env = dict(os.environ)
  env['XLA_FLAGS'] = (env.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=4').strip()
  env['JAX_PLATFORMS'] = 'cpu'
  env['PYTHONPATH'] = str(ROOT) + os.pathsep + env.get('PYTHONPATH', '')
  proc = subprocess.run([sys.executable, '-c', SCRIPT, str(ROOT / 'tests/data/structures/nano')],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  print(proc.stdout[-2000:])
  line = [l for l in proc.stdout.splitlines() if l.startswith('RESULT')][-1]
  out = json.loads(line[len('RESULT'):])
  for name in ('grad', 'adam'):
    r = out[name]
    assert r['recycles_equal'] and r['int_state_equal'], r
  # Acceptance: same loss and gradients as one device (<= 1e-5). 'grad' keeps the
  # gradient as optimiser state, so its float state IS the gradient (+ unchanged params).
  g = out['grad']
  assert g['loss_diff'] <= 1e-5, g
  assert g['float_state_diff'] <= 1e-5, g
  assert g['float_state_scale'] > 1e-2  # the compared gradients are not trivially small
  # Three real Adam steps: the trajectories agree to float32 round-off (relative).
  a = out['adam']
  assert len(set(a['losses'])) == 3
  assert a['loss_rel_diff'] <= 1e-5, a
  assert a['float_state_diff'] <= 1e-3 * a['float_state_scale'], a
  assert 'not divisible' in out['indivisible_error']
