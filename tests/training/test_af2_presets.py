"""AF2 training glue (training/af2_presets.py): a deliberately tiny AlphaFold (1 block per
stack, 1 structure-module layer, no templates, 11 residues) trains with every AF2 loss:
finite loss, finite metrics and finite gradients that reach the trunk and structure module,
and two gradient steps lower the loss.

Runs by default (it was opt-in): one compile of the model's value_and_grad (~45-55 s of CPU
cold on 2 cores -- the recycling while-loop holds a second forward copy; all AF2 losses and
violations), a few seconds when the persistent compilation cache (tests/conftest.py) holds it.
The training steps reuse that one compiled program (same shapes), so they cost run time only.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.config import model_config
from alphafold_jax.training import af2_presets
from alphafold_jax.training import presets
from alphafold_jax.training.data import DatasetSampler
from alphafold_jax.training.config import TrainConfig
from tests.random_params import DIFFUSION_STD, STACKED_SCOPES, random_params
from tests.training.conftest import NANO

CROP = 11


def test_tiny_af2_trains_with_its_losses():
  config = model_config('tiny', evoformer_num_block=1, extra_msa_stack_num_block=1,
                        structure_module_num_layer=1, use_templates=False, enabled=False,
                        embed_torsion_angles=False, reduce_msa_clusters_by_max_templates=False)
  init, loss_fn, _ = af2_presets.build(config, train_config=TrainConfig(max_recycle=1))
  # The one builder with the preset's kind of features; 1L2Y (20) and 1VII (36) cropped to 11.
  named = [(n, protein_lib.from_file(NANO / f'{n}.pdb')) for n in ('1L2Y', '1VII')]
  built = presets.training_examples(named, CROP, af2_presets.example_feature_config(config))
  batch = DatasetSampler(built, 2)(0)
  examples = [{k: v[i] for k, v in batch.items()} for i in range(2)]
  assert examples[0].keys() == examples[1].keys()
  for key in ('aatype', 'seq_mask', 'all_atom_positions', 'backbone_affine_tensor'):
    assert examples[0][key].shape[0] == CROP, key
  assert not np.array_equal(examples[0]['aatype'], examples[1]['aatype'])

  # Random non-trivial params (zero-init final layers would hide gradient paths; also skips
  # compiling init). The recycle count is traced, as in the train step.
  params = random_params(jax.eval_shape(init, jax.random.PRNGKey(0), examples[0]), seed=3,
                         stacked=STACKED_SCOPES, **DIFFUSION_STD)
  params = jax.tree.map(lambda x: 0.5 * x, params)
  grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
  (loss, metrics), grads = grad_fn(params, examples[1], jax.random.PRNGKey(0), jnp.int32(1))
  assert np.isfinite(float(loss)) and float(loss) > 0
  for name in ('fape', 'distogram_loss', 'masked_msa_loss', 'chi_loss', 'violation_loss'):
    assert name in metrics, name
  for name, value in metrics.items():
    assert np.all(np.isfinite(np.asarray(value))), name
  assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))

  def norm(prefix):
    return float(optax.global_norm({k: v for k, v in grads.items() if prefix in k}))

  assert norm('evoformer_iteration') > 0 and norm('structure_module') > 0

  # Two normalised gradient-descent steps on the same example and key (same dropout masks and
  # FAPE-clamping draw), through the same compiled program: the AF2 loss goes down each time.
  losses = [float(loss)]
  for _ in range(2):
    step = 0.01 / float(optax.global_norm(grads))
    params = jax.tree.map(lambda p, g: p - step * g, params, grads)
    (loss, _), grads = grad_fn(params, examples[1], jax.random.PRNGKey(0), jnp.int32(1))
    assert np.isfinite(float(loss))
    losses.append(float(loss))
  assert losses[2] < losses[1] < losses[0], losses
