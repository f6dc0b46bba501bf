"""`alphafold-jax train` subcommand: end-to-end run, resume, overrides, clear errors."""

import argparse
import json
import pathlib
import shutil

import pytest

from alphafold_jax.cli import train as train_cli
from alphafold_jax.training import logging as log_lib

NANO = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'structures' / 'nano'


@pytest.fixture()
def data_dir(tmp_path):
  d = tmp_path / 'data'
  d.mkdir()
  for name in ('1L2Y', '1VII'):
    shutil.copy(NANO / f'{name}.pdb', d / f'{name}.pdb')
  return d


def test_train_then_resume(data_dir, tmp_path, capsys):
  out = tmp_path / 'run'
  common = ['--preset', 'tiny_ca', '--data', str(data_dir), '--out', str(out), '--no-progress',
            '--checkpoint-every', '2', '--set', 'warmup_steps=1', '--set', 'max_recycle=0']
  assert train_cli.main(common + ['--steps', '4']) == 0
  assert train_cli.main(common + ['--steps', '6', '--resume']) == 0
  printed = capsys.readouterr().out
  assert 'to step 6' in printed and '1L2Y' in printed and '1VII' in printed
  records = log_lib.read_jsonl(out / 'metrics.jsonl')
  assert [r['step'] for r in records if r['kind'] == 'train'] == [1, 2, 3, 4, 5, 6]
  assert all(r['num_recycle'] == 0 for r in records if r['kind'] == 'train')
  assert (out / 'params.npz').exists() and (out / 'loss_curve.png').exists()
  ev = json.loads((out / 'eval.json').read_text())
  assert ev['step'] == 6 and [r['name'] for r in ev['structures']] == ['1L2Y', '1VII']
  assert {'2', '4', '6'} <= {p.name for p in (out / 'checkpoints').iterdir()}


def test_register_and_errors(data_dir, tmp_path, capsys):
  parser = argparse.ArgumentParser(prog='alphafold-jax')
  sub = parser.add_subparsers(dest='command')
  train_cli.register(sub)
  args = parser.parse_args(['train', '--preset', 'tiny_ca', '--data', str(data_dir), '--steps', '3',
                            '--out', str(tmp_path / 'o'), '--set', 'seed=4', '--batch-size', '4'])
  assert args.func is train_cli.run
  config = train_cli.build_config(train_cli.TrainConfig(), args)
  assert (config.seed, config.batch_size, config.num_steps) == (4, 4, 3)
  assert train_cli.main(['--preset', 'nope', '--data', str(data_dir), '--steps', '1',
                         '--out', str(tmp_path / 'x')]) == 2
  assert "unknown training preset 'nope'" in capsys.readouterr().err
  assert train_cli.main(['--preset', 'tiny_ca', '--data', str(data_dir), '--steps', '1',
                         '--out', str(tmp_path / 'x'), '--set', 'learning_rat=1']) == 2
  assert 'learning_rat' in capsys.readouterr().err
  assert train_cli.main(['--preset', 'tiny_ca', '--data', str(tmp_path / 'missing'), '--steps',
                         '1', '--out', str(tmp_path / 'x')]) == 2
  assert 'data directory not found' in capsys.readouterr().err
  assert train_cli.main(['--preset', 'tiny_ca', '--data', str(data_dir), '--steps', '1',
                         '--out', str(tmp_path / 'x'), '--time-limit', '0']) == 2
  assert '--time-limit must be a positive' in capsys.readouterr().err
  assert train_cli.main(['--preset', 'tiny_ca', '--data', str(data_dir), '--steps', '1',
                         '--out', str(tmp_path / 'x'), '--set', f'distillation_dir={data_dir}']) == 2
  assert 'distillation_dir / cluster_file apply to the af2_* presets' in capsys.readouterr().err
  assert train_cli.main(['--preset', 'nano_ipa_finetune', '--data', str(data_dir), '--steps', '1',
                         '--out', str(tmp_path / 'x'), '--model-set', 'peptide_geometr=1']) == 2
  assert "unknown config field 'peptide_geometr'" in capsys.readouterr().err
  assert not (tmp_path / 'x').exists()


def test_model_set_overrides_the_fine_tuning_losses(monkeypatch):
  """`train --model-set` reaches the preset's model config, and wins over the fine-tuning
  stage's own loss settings (a later fine-tuning step with another peptide weight)."""
  from alphafold_jax.training import af2_presets, presets  # pylint: disable=import-outside-toplevel
  seen = []

  def fake_build(config, train_config):
    seen.append(config)
    return None, None, None
  monkeypatch.setattr(af2_presets, 'build', fake_build)
  monkeypatch.setattr(af2_presets, 'example_feature_config', lambda config: None)
  args = argparse.Namespace(bf16=True, model_set=['peptide_geometry_weight=20',
                                                  'structure_module_num_layer=3'])
  overrides = train_cli.model_overrides(args)
  assert overrides == {'bfloat16': True, 'peptide_geometry_weight': 20,
                       'structure_module_num_layer': 3}
  presets._nano_ipa(overrides, fine_tuning=True)  # pylint: disable=protected-access
  presets._nano_ipa(None, fine_tuning=True)  # pylint: disable=protected-access
  presets._nano_ipa({'peptide_geometry_weight': 5.0})  # pylint: disable=protected-access
  changed, default, first_stage = (c.losses for c in seen)
  assert (changed.peptide_geometry_weight, default.peptide_geometry_weight,
          first_stage.peptide_geometry_weight) == (20, 2.0, 5.0)
  assert changed.structural_violation_loss_weight == default.structural_violation_loss_weight == 1.0
  assert changed.violation_loss_tolerance_factor == 0.0
  assert first_stage.structural_violation_loss_weight == 0.0
  assert seen[0].structure_module.num_layer == 3 and seen[0].global_config.bfloat16
  assert train_cli.model_overrides(argparse.Namespace(bf16=False, model_set=[])) is None


def test_init_params_reproduces_first_step_loss(data_dir, tmp_path, capsys):
  """--init-params FILE.npz: the first-step loss equals a run started from the same params in
  memory; a file that does not fit the preset is one error line."""
  import jax  # pylint: disable=import-outside-toplevel
  from alphafold_jax.common import protein as protein_lib  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training import checkpoints as ckpt_lib  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training import presets  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.data import DatasetSampler  # pylint: disable=import-outside-toplevel
  from alphafold_jax.training.trainer import train  # pylint: disable=import-outside-toplevel
  preset = presets.get_preset('tiny_ca')
  named = [(n, protein_lib.from_file(data_dir / f'{n}.pdb')) for n in ('1L2Y', '1VII')]
  examples = preset.make_examples(named, seed=0)
  given = jax.tree.map(lambda x: x * 2.0 + 0.05,
                       jax.device_get(preset.init(jax.random.PRNGKey(7), examples.example(0))))
  ckpt_lib.export_params(given, tmp_path / 'given.npz')
  out = tmp_path / 'run'
  assert train_cli.main(['--preset', 'tiny_ca', '--data', str(data_dir), '--out', str(out),
                         '--no-progress', '--steps', '1', '--init-params',
                         str(tmp_path / 'given.npz')]) == 0
  first = [r for r in log_lib.read_jsonl(out / 'metrics.jsonl') if r['kind'] == 'train'][0]
  config = preset.train_config.replace(num_steps=1)
  ref = train(preset.loss_fn, given, DatasetSampler(examples, config.batch_size), config,
              progress=False)
  assert first['loss'] == pytest.approx(ref.losses[1], rel=1e-6)
  capsys.readouterr()
  wrong = {'other/scope': {'w': given[next(iter(given))][next(iter(given[next(iter(given))]))]}}
  ckpt_lib.export_params(wrong, tmp_path / 'wrong.npz')
  assert train_cli.main(['--preset', 'tiny_ca', '--data', str(data_dir), '--out',
                         str(tmp_path / 'run2'), '--no-progress', '--steps', '1',
                         '--init-params', str(tmp_path / 'wrong.npz')]) != 0
  assert 'wrong.npz' in capsys.readouterr().err
