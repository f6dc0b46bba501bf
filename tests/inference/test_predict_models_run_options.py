"""`predict` on the several-models path honours --devices and --memory-budget-gib (the one
place that turns them into RunModel options: cli/predict_models.py `run_model_options`).

One run on 1 device without the flags (in-process) and one in a subprocess with 2 simulated CPU
devices and both flags; summary.json's `run_options` is read from the RunModels that ran.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from alphafold_jax.common import protein
from alphafold_jax.config import model_config
from alphafold_jax.inference import weights
from alphafold_jax.params import save_alphafold_params
from tests.cli.cli_testing import SEQ_SHORT, assert_one_error_line, cli_run
from tests.random_params import STACKED_SCOPES, random_params

ROOT = pathlib.Path(__file__).resolve().parents[2]
# L 14 -> bucket 16: the default path needs ~1.5 MB, the long-sequence fp32 path ~0.5 MB
BUDGET_GIB = '0.001'


@pytest.fixture(scope='module')
def work(tmp_path_factory):
  work = tmp_path_factory.mktemp('run_options')
  config = model_config('tiny', num_recycle=0)
  params = random_params(weights.expected_param_shapes(config), seed=3, scale_std=0.1,
                         bias_std=0.1, stacked=STACKED_SCOPES)
  save_alphafold_params(params, work / 'tiny.npz')
  (work / 'in.fasta').write_text(f'>prot\n{SEQ_SHORT}\n')
  return work


def _argv(work, out):
  return ['predict', work / 'in.fasta', '--preset', 'tiny', '--params', work / 'tiny.npz',
          '--num-recycle', '0', '--output-layout', 'af2', '--buckets', '16', '--out', out,
          '--quiet']


def test_models_path_splits_over_devices_under_the_memory_policy(work):
  code, _, err = cli_run(_argv(work, work / 'one'))
  assert code == 0, err
  env = dict(os.environ, PYTHONPATH=str(ROOT),
             XLA_FLAGS='--xla_force_host_platform_device_count=2')
  argv = [str(a) for a in _argv(work, work / 'two')] + ['--devices', '2',
                                                        '--memory-budget-gib', BUDGET_GIB]
  proc = subprocess.run([sys.executable, '-m', 'alphafold_jax.cli', *argv], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  options = {name: json.loads((work / name / 'summary.json').read_text())['run_options']
             for name in ('one', 'two')}
  assert options == {'one': [{'devices': 1, 'long_sequence_policy': False}],
                     'two': [{'devices': 2, 'long_sequence_policy': True}]}, options
  one, two = (protein.from_file(str(work / name / 'prot' / 'ranked_0.pdb'))
              for name in ('one', 'two'))
  mask = one.atom_mask > 0
  np.testing.assert_array_equal(one.atom_mask, two.atom_mask)
  assert np.abs(one.atom_positions - two.atom_positions)[mask].max() <= 2e-3  # printed 0.001 A


@pytest.mark.parametrize('flags,name', [(['--devices', '0'], '--devices'),
                                        (['--devices', '3'], '--devices'),
                                        (['--memory-budget-gib', '-1'], '--memory-budget-gib')])
def test_bad_devices_or_budget_on_the_models_path(work, flags, name):
  out = work / f'bad{flags[1]}'
  result = cli_run(_argv(work, out) + flags)
  assert_one_error_line(result, 'predict', name)
  assert not out.exists()
