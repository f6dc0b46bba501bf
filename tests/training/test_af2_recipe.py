"""AF2's training recipe presets (af2_initial / af2_finetune), EMA, --init-params, bad data."""

import pathlib
import shutil

import jax
import numpy as np
import pytest

from alphafold_jax.training import af2_presets
from alphafold_jax.training import presets
from alphafold_jax.training.trainer import train

DATA = pathlib.Path(__file__).resolve().parents[1] / 'data'
# (structure file, MSA folder): the shared structure + MSA pairs (1EGF / 1XNB MSAs are of a
# homologue / another construct; msa_query='align' maps them onto the chain).
PAIRS = (('102M.cif', 'myoglobin_102M_A'), ('1EGF.pdb', 'egf_1A3P_A'),
         ('1XNB.pdb', 'xylanase_6KWC_1'))


def make_data_dir(root: pathlib.Path, pairs=PAIRS) -> pathlib.Path:
  """Structures + MSAs (<stem>/); 102M also gets a template folder (<stem>/templates/, here
  the structure itself: the plumbing, not a fair template); the others have zero templates."""
  root.mkdir(parents=True, exist_ok=True)
  for structure, msa in pairs:
    shutil.copy(DATA / 'structures' / 'extra' / structure, root / structure)
    stem = structure.split('.')[0]
    shutil.copytree(DATA / 'msa' / msa, root / stem, dirs_exist_ok=True)
  (root / '102M' / 'templates').mkdir(exist_ok=True)
  shutil.copy(DATA / 'structures' / 'extra' / '102M.cif', root / '102M' / 'templates' / '102M.cif')
  return root


def test_recipe_settings_follow_table_4():
  for stage, crop, clusters, extra, lr in (('initial', 256, 128, 1024, 1e-3),
                                           ('finetune', 384, 512, 5120, 5e-4)):
    config = af2_presets.recipe_model_config(stage)
    train_config = af2_presets.recipe_train_config(stage)
    assert af2_presets.AF2_STAGES[stage]['crop_size'] == crop
    assert (config.data.max_msa_clusters, config.data.max_extra_msa) == (clusters, extra)
    assert config.data.use_templates and config.evoformer.template.enabled
    assert train_config.learning_rate == lr and train_config.clip_global_norm == 0.1
    assert train_config.warmup_steps == 1000 and train_config.decay == 'step'
    assert (train_config.decay_steps, train_config.decay_rate) == (50_000, 0.95)
    assert train_config.sample_recycle and train_config.max_recycle == 3
    assert train_config.clamped_fape_fraction == 0.9 and train_config.ema_decay == 0.999
    fine = stage == 'finetune'
    assert config.losses.structural_violation_loss_weight == (1.0 if fine else 0.0)
    assert config.losses.experimentally_resolved_weight == (0.01 if fine else 0.0)
  assert {'af2_initial', 'af2_finetune'} <= set(presets.preset_names())


@pytest.fixture(scope='module')
def recipe_dir(tmp_path_factory):
  return make_data_dir(tmp_path_factory.mktemp('af2_recipe'))


@pytest.mark.parametrize('stage', ['initial', 'finetune'])
def test_recipe_loss_runs_on_its_outputs(stage):
  """Each AF2 recipe preset's loss runs on its own model's outputs (eval_shape, small widths):
  experimentally-resolved head and loss exactly in fine-tuning, violations in its metrics."""
  from tests.config.test_preset_losses import SMALL, _trace_loss  # pylint: disable=import-outside-toplevel
  config = af2_presets.recipe_model_config(stage, **SMALL)
  predictions, (loss, metrics) = _trace_loss(config)
  assert loss.shape == ()
  fine = stage == 'finetune'
  assert ('experimentally_resolved' in predictions) == fine
  assert ('experimentally_resolved_loss' in metrics) == fine
  assert 'predicted_aligned_error' not in predictions


def test_tiny_af2_finetune_trains_three_steps(recipe_dir):
  # The tiny widths with one Evoformer block and one structure-module layer (CI time).
  preset = presets.get_preset('tiny_af2_finetune', model_overrides={
      'evoformer_num_block': 1, 'structure_module_num_layer': 1})
  config = preset.train_config.replace(num_steps=3)
  sampler = preset.batch_source(str(recipe_dir), config)
  assert sampler.dataset.names == ['102M', '1EGF', '1XNB'] and not sampler.dataset.skipped
  with_template = sampler.dataset.example(0, 0)
  assert with_template['template_mask'].tolist() == [1., 0.]
  assert with_template['template_pseudo_beta_mask'][0].sum() > 0
  assert sampler.dataset.example(1, 0)['template_mask'].sum() == 0  # no folder: zero templates
  batch = sampler(0)
  assert batch['msa_row_mask'][0].sum() == 6  # real MSAs: every cluster row filled
  assert 'template_aatype' in batch and batch['template_aatype'].shape[1] == 2  # [B, T, L]
  example = jax.tree.map(lambda x: x[0], batch)
  params = preset.init(jax.random.PRNGKey(0), example)
  assert any('experimentally_resolved' in k for k in params)
  result = train(preset.loss_fn, params, sampler, config, progress=False)
  assert len(result.losses) == 3 and all(np.isfinite(list(result.losses.values())))
  for record in result.records:
    assert np.isfinite(record['grad_norm']) and record['grad_norm'] > 0


def test_bf16_training_computes_in_bf16_and_keeps_float32_state(recipe_dir):
  """`train --bf16` = model_config(bfloat16=True) on the AF2-model presets (the precision
  policy predict's --bf16 uses): the gradient graph has bf16 dots, while the parameters and
  their gradients stay float32."""
  bf16 = presets.get_preset('tiny_af2_initial', model_overrides={
      'evoformer_num_block': 1, 'structure_module_num_layer': 1, 'bfloat16': True})
  example = jax.tree.map(lambda x: x[0],
                         bf16.batch_source(str(recipe_dir), bf16.train_config)(0))
  key = jax.random.PRNGKey(0)
  params = jax.eval_shape(bf16.init, key, example)
  assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {np.dtype('float32')}
  lowered = jax.jit(jax.grad(lambda p: bf16.loss_fn(p, example, key, 0)[0])).lower(params)
  assert {g.dtype for g in jax.tree.leaves(lowered.out_info)} == {np.dtype('float32')}
  dots = [line for line in lowered.as_text().splitlines() if 'dot_general' in line]
  assert any('bf16' in line for line in dots) and any('f32' in line for line in dots)
  with pytest.raises(presets.PresetError, match='AF2 model'):
    presets.get_preset('tiny_ca', model_overrides={'bfloat16': True})
