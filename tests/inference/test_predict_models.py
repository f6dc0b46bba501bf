"""`predict --models ... --params-dir DIR --output-layout af2`: five presets with five random
parameter files, ranked as AF2 v2.3 ranks monomers, AF2's files and JSON schemas; bad inputs.

Cost: two XLA compiles. The presets are shrunk to micro widths (`MICRO`, applied by swapping
`model_runner.preset_config`); at those widths model_3, model_4 and model_5 have one config
(no templates, same extra-MSA size) and so do model_3_ptm and model_4_ptm: five models, two
compiled programs. The bad-input tests fail before any compile.
"""

import json
import pickle

import numpy as np
import pytest

from alphafold_jax import cli
from alphafold_jax.config import model_config
from alphafold_jax.inference import model_runner, weights
from alphafold_jax.params import save_alphafold_params
from tests.oracle import oracle_import, requires_oracle
from tests.random_params import STACKED_SCOPES, random_params


# The --features test reads the oracle pipeline's pickle.
pytestmark = requires_oracle


def _random_params(shapes, seed):
  """The predict tests' distribution (tests/inference/test_predict.py): PAE head scaled down,
  pLDDT head up, so confidences vary per residue and per pair."""
  return random_params(shapes, seed, scale_std=0.1, bias_std=0.1, stacked=STACKED_SCOPES,
                       gains={'lddt_head': 3., 'aligned_error_head': 0.01})


MICRO = dict(msa_channel=12, pair_channel=10, seq_channel=14, extra_msa_channel=6,
             evoformer_num_block=1, extra_msa_stack_num_block=1, num_head=2,
             num_outer_channel=4, num_intermediate_channel=6, num_channel=16, num_scalar_qk=4,
             num_scalar_v=4, num_point_qk=2, num_point_v=3, num_layer=1, num_channels=8,
             key_dim=None, value_dim=None, num_recycle=1, max_msa_clusters=6, max_extra_msa=5,
             subbatch_size=None)
MODELS = ('model_3', 'model_4', 'model_5', 'model_3_ptm', 'model_4_ptm')
SEQ = 'MKTAYIAKQRQISF'  # 14 residues, bucket 16
A3M = f'>query\n{SEQ}\n>hit1\nMKTAYkkIAKQRQI-F\n>hit2\n-KSAYIAKQRQLSF\n'


def micro_config(name, **overrides):
  return model_config(name, **{**MICRO, **overrides})


@pytest.fixture(scope='module')
def params_dir(tmp_path_factory):
  folder = tmp_path_factory.mktemp('params')
  shapes = {}
  for i, name in enumerate(MODELS):
    config = micro_config(name)
    key = model_runner.shared_config_key(config)
    if key not in shapes:
      shapes[key] = weights.expected_param_shapes(config)
    save_alphafold_params(_random_params(shapes[key], seed=10 + i),
                          folder / model_runner.param_file_name(name))
  return folder


@pytest.fixture
def micro(monkeypatch):
  monkeypatch.setattr(model_runner, 'preset_config', micro_config)


def _oracle_features_pickle(path):
  """features.pkl as AF2's own pipeline (the oracle's) builds it for SEQ + A3M, no templates."""
  pipeline = oracle_import('alphafold.data.pipeline')
  oracle_parsers = oracle_import('alphafold.data.parsers')
  n = len(SEQ)
  features = {**pipeline.make_sequence_features(SEQ, 'prot_oracle', n),
              **pipeline.make_msa_features([oracle_parsers.parse_a3m(A3M)]),
              'template_aatype': np.zeros((0, n, 22), np.float32),
              'template_all_atom_masks': np.zeros((0, n, 37), np.float32),
              'template_all_atom_positions': np.zeros((0, n, 37, 3), np.float32),
              'template_domain_names': np.zeros((0,), object),
              'template_sequence': np.zeros((0,), object),
              'template_sum_probs': np.zeros((0, 1), np.float32)}
  with open(path, 'wb') as f:
    pickle.dump(features, f, protocol=4)


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
  work = tmp_path_factory.mktemp('inputs')
  (work / 'in.fasta').write_text(f'>prot test\n{SEQ}\n')
  (work / 'two.fasta').write_text(f'>prot test\n{SEQ}\n>prot_oracle same sequence\n{SEQ}\n')
  (work / 'in.a3m').write_text(A3M)
  _oracle_features_pickle(work / 'oracle_features.pkl')
  return work


def _predict(argv, capsys):
  code = cli.main(['predict', *argv])
  return code, capsys.readouterr().err.strip().splitlines()


def test_five_models_ranked_in_af2_layout(micro, params_dir, inputs, tmp_path, capsys):
  """Target prot: our in-memory features (FASTA + --msa); target prot_oracle: the same
  sequence and MSA as AF2's own pipeline (the oracle's) pickles them, via --features."""
  out = tmp_path / 'out'
  code, err = _predict([str(inputs / 'two.fasta'), '--msa', f'prot={inputs / "in.a3m"}',
                        '--features', f'prot_oracle={inputs / "oracle_features.pkl"}',
                        '--models', ','.join(MODELS), '--params-dir', str(params_dir),
                        '--output-layout', 'af2', '--save-all', '--buckets', '16',
                        '--out', str(out), '--quiet'], capsys)
  assert code == 0, err
  folder = out / 'prot'
  runs = [f'{m}_pred_0' for m in MODELS]
  ranking = json.loads((folder / 'ranking_debug.json').read_text())
  assert set(ranking) == {'plddts', 'order'} and set(ranking['plddts']) == set(runs)
  # AF2 monomer ranking: mean pLDDT, highest first, for ptm and non-ptm models alike.
  assert ranking['order'] == sorted(runs, key=lambda r: -ranking['plddts'][r])
  timings = json.loads((folder / 'timings.json').read_text())
  assert set(timings) == {'features', *(f'process_features_{r}' for r in runs),
                          *(f'predict_and_compile_{r}' for r in runs)}
  assert all(isinstance(v, float) and v >= 0 for v in timings.values())
  means = {}
  for run in runs:
    conf = json.loads((folder / f'confidence_{run}.json').read_text())
    assert list(conf) == ['residueNumber', 'confidenceScore', 'confidenceCategory']
    assert conf['residueNumber'] == list(range(1, len(SEQ) + 1))
    assert set(conf['confidenceCategory']) <= set('DLMH')
    means[run] = np.mean(conf['confidenceScore'])
    assert abs(means[run] - ranking['plddts'][run]) < 0.01
    assert (folder / f'unrelaxed_{run}.pdb').is_file()
    assert (folder / f'unrelaxed_{run}.cif').is_file()
    has_pae = run.startswith(('model_3_ptm', 'model_4_ptm'))
    assert (folder / f'pae_{run}.json').is_file() == has_pae
    if has_pae:
      pae = json.loads((folder / f'pae_{run}.json').read_text())
      assert isinstance(pae, list) and len(pae) == 1
      assert set(pae[0]) == {'predicted_aligned_error', 'max_predicted_aligned_error'}
      assert np.asarray(pae[0]['predicted_aligned_error']).shape == (len(SEQ), len(SEQ))
  assert len({round(m, 2) for m in means.values()}) == len(runs)  # a real ranking
  for i, run in enumerate(ranking['order']):
    assert (folder / f'ranked_{i}.pdb').read_text() == (folder / f'unrelaxed_{run}.pdb'
                                                        ).read_text()
    assert (folder / f'ranked_{i}.cif').is_file()
  with open(folder / 'features.pkl', 'rb') as f:
    assert pickle.load(f)['msa'].shape == (3, len(SEQ))
  with open(folder / f'result_{runs[3]}.pkl', 'rb') as f:
    result = pickle.load(f)
  n = len(SEQ)
  assert result['distogram']['logits'].shape[:2] == (n, n)
  assert result['predicted_aligned_error'].shape == (n, n)
  assert result['masked_msa']['logits'].shape[1:] == (n, 23)
  reps = result['representations']
  assert reps['single'].shape == (n, 14) and reps['pair'].shape == (n, n, 10)
  assert reps['msa_first_row'].shape == (n, 12)
  assert abs(result['ranking_confidence'] - ranking['plddts'][runs[3]]) < 1e-3
  # AF2's features.pkl gives the same predictions as the in-memory path, run by run.
  oracle_folder = out / 'prot_oracle'
  assert json.loads((oracle_folder / 'ranking_debug.json').read_text()) == ranking
  for run in runs:
    ours = (folder / f'unrelaxed_{run}.pdb').read_text()
    assert (oracle_folder / f'unrelaxed_{run}.pdb').read_text() == ours
    assert (oracle_folder / f'confidence_{run}.json').read_text() == (
        folder / f'confidence_{run}.json').read_text()
  summary = json.loads((out / 'summary.json').read_text())
  # model_3/4/5 share one compiled program, model_3_ptm/4_ptm another.
  assert summary['num_compiles'] == 2
  assert [c[0] for c in summary['compiles']] == ['model_3', 'model_3_ptm']


def test_a_failing_target_loses_only_its_own_files(micro, params_dir, inputs, tmp_path, capsys,
                                                   monkeypatch):
  """Issue 23's isolation on the several-models path: target prot_oracle fails (an injected
  out-of-memory error); prot is still written in the AF2 layout, the failure is one stderr
  line and a summary.json entry, exit code 1, no staging directory left."""
  real = model_runner.ModelRunner.run_target
  calls = []

  def run_target(self, specs, length, raw, *args, **kwargs):
    calls.append(length)
    if len(calls) == 2:
      raise MemoryError('RESOURCE_EXHAUSTED: injected')
    return real(self, specs, length, raw, *args, **kwargs)
  monkeypatch.setattr(model_runner.ModelRunner, 'run_target', run_target)
  out = tmp_path / 'out'
  code, err = _predict([str(inputs / 'two.fasta'), '--models', 'model_3', '--params-dir',
                        str(params_dir), '--output-layout', 'af2', '--out', str(out), '--quiet'],
                       capsys)
  assert code == 1 and len(err) == 1 and 'out of memory' in err[0], err
  summary = json.loads((out / 'summary.json').read_text())
  status = {t['name']: t['status'] for t in summary['targets']}
  failed = [name for name, s in status.items() if s == 'failed']
  assert len(failed) == 1 and summary['num_written'] == 1 and summary['num_failed'] == 1
  written = [name for name, s in status.items() if s == 'ok'][0]
  assert (out / written / 'ranked_0.pdb').exists() and not (out / failed[0]).exists()
  assert not [p for p in tmp_path.iterdir() if '.tmp-' in p.name]


def _bad(argv, capsys, tmp_path):
  out = tmp_path / 'out'
  code, err = _predict([*argv, '--out', str(out), '--quiet'], capsys)
  assert code == 2 and len(err) == 1, err
  assert not out.exists()
  return err[0]


def test_unknown_model_name(inputs, params_dir, tmp_path, capsys):
  line = _bad([str(inputs / 'in.fasta'), '--models', 'model_1_ptm,model_6',
               '--params-dir', str(params_dir)], capsys, tmp_path)
  assert "unknown model 'model_6'" in line


def test_missing_parameter_file(micro, inputs, params_dir, tmp_path, capsys):
  line = _bad([str(inputs / 'in.fasta'), '--models', 'model_3,model_1',
               '--params-dir', str(params_dir)], capsys, tmp_path)
  assert 'params_model_1.npz' in line and str(params_dir) in line


def test_features_pickle_lacking_keys(inputs, params_dir, tmp_path, capsys):
  path = tmp_path / 'features.pkl'
  with open(path, 'wb') as f:
    pickle.dump({'aatype': np.zeros((3, 21)), 'sequence': np.array([b'MKT'])}, f)
  line = _bad([str(inputs / 'in.fasta'), '--features', str(path), '--models', 'model_3',
               '--params-dir', str(params_dir)], capsys, tmp_path)
  assert 'missing msa, deletion_matrix_int' in line


def test_knobs_become_config_fields():
  args = cli.build_parser().parse_args([
      'predict', 'x.fasta', '--num-recycle', '2', '--recycle-early-stop-tolerance', '0.5',
      '--max-msa', '32:64', '--use-dropout', '--num-ensemble', '2', '--chunk-budget-mib',
      '100', '--bf16'])
  from alphafold_jax.cli import predict_models
  overrides = predict_models.config_overrides(args)
  config = model_config('model_3_ptm', **overrides)
  assert config.num_recycle == 2 and config.recycle_early_stop_tolerance == 0.5
  assert (config.data.max_msa_clusters, config.data.max_extra_msa) == (32, 64)
  assert config.data.num_ensemble == 2
  gc = config.global_config
  assert gc.eval_dropout and gc.bfloat16 and gc.chunk_budget_mib == 100
  with pytest.raises(ValueError, match='CLUSTERS:EXTRA'):
    predict_models.parse_max_msa('32')


def _sample(plddt, ptm=None):
  from alphafold_jax.inference.predict import Sample
  n = len(plddt)
  return Sample(seed=0, final_atom_positions=np.zeros((n, 37, 3)), final_atom_mask=np.ones((n, 37)),
                plddt=np.asarray(plddt, np.float32), num_recycles=0, bucket=n, ptm=ptm)


def test_ranking_by_plddt_or_ptm_and_af2_json_text():
  from alphafold_jax.inference import af2_outputs
  samples = {'m1_pred_0': _sample([80, 90], 0.3), 'm2_pred_0': _sample([70, 75], 0.6),
             'm3_pred_0': _sample([84, 85], 0.5)}
  for rank_by, expected in (('plddt', ['m1_pred_0', 'm3_pred_0', 'm2_pred_0']),
                            ('ptm', ['m2_pred_0', 'm3_pred_0', 'm1_pred_0'])):
    runs = [model_runner.Run(name=k, model=k[:2], seed=0, sample=s,
                             ranking_confidence=model_runner.ranking_confidence(s, rank_by))
            for k, s in samples.items()]
    order = model_runner.rank_runs(runs)
    assert order == expected
    debug = af2_outputs.ranking_debug(runs, order, rank_by)
    assert list(debug) == ['plddts' if rank_by == 'plddt' else 'ptm', 'order']
  with pytest.raises(ValueError, match='_ptm models'):
    model_runner.ranking_confidence(_sample([50]), 'ptm')
  assert af2_outputs.confidence_json(np.array([49.996, 50.0, 70.123, 95.5])) == (
      '{"residueNumber":[1,2,3,4],"confidenceScore":[50.0,50.0,70.12,95.5],'
      '"confidenceCategory":["D","L","M","H"]}')
  assert af2_outputs.pae_json(np.array([[0.04, 1.26], [3.0, 0.0]]), 31.75) == (
      '[{"predicted_aligned_error":[[0.0,1.3],[3.0,0.0]],"max_predicted_aligned_error":31.75}]')


def test_outputs_cut_to_the_target_length():
  n, b = 3, 5
  out = model_runner.cut_outputs({
      'plddt': np.zeros(b), 'distogram': {'logits': np.zeros((b, b, 64))},
      'masked_msa': {'logits': np.zeros((b, b, 23))},
      'representations': {'pair': np.zeros((b, b, 7)), 'msa': np.zeros((b, b, 6))}}, n)
  assert out['plddt'].shape == (n,) and out['distogram']['logits'].shape == (n, n, 64)
  assert out['masked_msa']['logits'].shape == (b, n, 23)  # rows are MSA rows, not residues
  assert out['representations']['pair'].shape == (n, n, 7)
  assert out['representations']['msa'].shape == (b, n, 6)


def test_model_set_overrides_any_config_field():
  args = cli.build_parser().parse_args([
      'predict', 'x.fasta', '--model-set', 'evoformer_num_block=3',
      '--model-set', 'structure_module.num_layer=5', '--model-set', 'use_templates=False'])
  from alphafold_jax.cli import predict_models
  config = model_config('model_1_ptm', **predict_models.config_overrides(args))
  assert config.evoformer.evoformer_num_block == 3
  assert config.structure_module.num_layer == 5
  assert config.data.use_templates is False
  with pytest.raises(ValueError, match='FIELD=VALUE'):
    predict_models.parse_model_set(['evoformer_num_block'])


def test_model_set_unknown_field_is_one_line(inputs, tmp_path, capsys):
  line = _bad([str(inputs / 'in.fasta'), '--preset', 'tiny', '--model-set', 'no_such_field=1'],
              capsys, tmp_path)
  assert "unknown config field 'no_such_field'" in line
