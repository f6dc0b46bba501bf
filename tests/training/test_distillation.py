"""AF2's self-distillation source (Suppl. 1.3): pLDDT-masked labels, the 75 % mix, training."""

import pathlib
import shutil

import jax
import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.training import presets
from alphafold_jax.training.config import TrainConfig
from alphafold_jax.training.trainer import train
from data_pipeline import dataset as dataset_lib
from tests.training.test_af2_recipe import DATA

NANO = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'structures' / 'nano'


def write_prediction(path: pathlib.Path, name: str, plddt=None, seed: int = 0) -> np.ndarray:
  """The nano structure `name` written as a prediction: per-residue pLDDT (default: drawn in
  [30, 100)) on every atom's B-factor, plus a stray resolution remark. Returns the pLDDT."""
  prot = protein_lib.from_file(NANO / f'{name}.pdb')
  if plddt is None:
    plddt = np.round(np.random.default_rng(seed).uniform(30, 100, len(prot.aatype)), 2)
  b_factors = np.repeat(np.asarray(plddt, np.float32)[:, None], 37, axis=1)  # [L, 37]
  prot = protein_lib.Protein(prot.aatype, prot.atom_positions, prot.atom_mask,
                             prot.residue_index, prot.chain_id, b_factors)
  path.write_text('REMARK   2 RESOLUTION.    1.50 ANGSTROMS.\n' + protein_lib.to_pdb(prot))
  return np.asarray(plddt)


def test_masked_residues_are_exactly_those_below_70(tmp_path):
  plddt = np.round(np.random.default_rng(1).uniform(30, 100, 36), 2)
  plddt[:3] = [70.0, 69.99, 70.01]  # the boundary: 70 kept, below masked
  write_prediction(tmp_path / 'PRED.pdb', '1VII', plddt)
  config = dataset_lib.DatasetConfig(crop_size=None, buckets=None, feature_config=None,
                                     distillation=True)
  labels = dataset_lib.StructureDataset(tmp_path, config).source(0).labels
  plain = dataset_lib.StructureDataset(tmp_path, dataset_lib.DatasetConfig(
      crop_size=None, buckets=None, feature_config=None)).source(0).labels
  kept = plddt >= 70
  assert 5 < kept.sum() < 31  # both kinds present
  np.testing.assert_array_equal(labels['all_atom_mask'].any(-1), kept)
  np.testing.assert_array_equal(labels['all_atom_mask'][kept], plain['all_atom_mask'][kept])
  for key in ('backbone_affine_mask', 'pseudo_beta_mask', 'atom14_gt_exists'):
    assert not labels[key][~kept].any(), key  # every mask derived from the atom mask
  assert float(labels['resolution']) == 0. and float(plain['resolution']) == 1.5
  # Nothing confident left: the entry is unreadable, named with the reason.
  write_prediction(tmp_path / 'PRED.pdb', '1VII', np.full(36, 50.))
  with pytest.raises(dataset_lib.DatasetEntryError, match='pLDDT >= 70'):
    dataset_lib.StructureDataset(tmp_path, config).source(0)


@pytest.fixture(scope='module')
def mixed_dirs(tmp_path_factory):
  root = tmp_path_factory.mktemp('mixed')
  (root / 'pdb').mkdir()
  (root / 'distill').mkdir()
  for name in ('1CRN', '1L2Y', '1VII'):
    shutil.copy(NANO / f'{name}.pdb', root / 'pdb' / f'{name}.pdb')
  for seed, name in enumerate(('1UBQ', '2GB1')):
    write_prediction(root / 'distill' / f'P{name}.pdb', name, seed=seed)
  return root


def _structure_only_sampler(dirs, **config):
  """presets.recipe_sampler with structure-only examples (cheap): AF2's filters, weights and
  distillation mix as the af2_* presets use them."""
  config = TrainConfig(batch_size=2, distillation_dir=str(dirs / 'distill'), **config)
  return presets.recipe_sampler(str(dirs / 'pdb'), 13, None, config)


def test_mix_is_75_percent_and_a_pure_function_of_seed_and_step(mixed_dirs):
  sampler = _structure_only_sampler(mixed_dirs)
  assert sampler.dataset.names == ['1CRN', '1L2Y', '1VII']
  assert sampler.datasets[1].names == ['P1UBQ', 'P2GB1']
  sources = np.array([[s for s, _, _ in sampler.slots(step)] for step in range(2000)])  # [2000, 2]
  fraction = sources.mean()
  assert abs(fraction - 0.75) < 4 * np.sqrt(0.75 * 0.25 / sources.size), fraction  # 4 sigma
  again = _structure_only_sampler(mixed_dirs)
  for step in range(4):
    batch = sampler(step)
    # Distillation rows have resolution 0 (confidence losses off); the PDB chains 1.5 / 0 (NMR).
    assert all(batch['resolution'][b] == 0 for b in range(2) if sources[step, b])
    assert sampler.data_metrics(step)['distillation_examples'] == sources[step].sum()
    other = again(step)
    assert sorted(batch) == sorted(other)
    for key in batch:
      np.testing.assert_array_equal(batch[key], other[key], err_msg=key)
    halves = [sampler.host_batch(step, (0, 1)), sampler.host_batch(step, (1, 2))]
    for key in batch:  # each host's rows are its slice of the global batch
      np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), batch[key])
  other_seed = _structure_only_sampler(mixed_dirs, seed=1)
  assert [other_seed.slots(s) for s in range(10)] != [sampler.slots(s) for s in range(10)]
  no_mix = _structure_only_sampler(mixed_dirs, distillation_fraction=0.)
  assert all(s == 0 for step in range(50) for s, _, _ in no_mix.slots(step))


def test_tiny_af2_trains_with_a_distillation_dir(tmp_path, mixed_dirs):
  """tiny_af2_finetune with the model and batch shapes of test_af2_recipe's 3-step run, so
  the train step is the same XLA program (one compile for both via the persistent cache; a
  distillation example only sets AF2's is_distillation feature to 1)."""
  data = tmp_path / 'data'  # one PDB chain with its MSA (EGF, 53 residues)
  shutil.copytree(DATA / 'msa' / 'egf_1A3P_A', data / '1EGF')
  shutil.copy(DATA / 'structures' / 'extra' / '1EGF.pdb', data / '1EGF.pdb')
  preset = presets.get_preset('tiny_af2_finetune', model_overrides={
      'evoformer_num_block': 1, 'structure_module_num_layer': 1})
  base = preset.train_config.replace(num_steps=2, distillation_dir=str(mixed_dirs / 'distill'))
  # The first seed whose two steps (batch 1) hold one PDB and one distillation example.
  for seed in range(20):
    config = base.replace(seed=seed)
    sampler = preset.batch_source(str(data), config)
    if sorted(sampler.slots(0)[0][:1] + sampler.slots(1)[0][:1]) == [0, 1]:
      break
  for step in (0, 1):
    assert sampler(step)['is_distillation'].tolist() == [float(sampler.slots(step)[0][0])]
  example = jax.tree.map(lambda x: x[0], sampler(0))
  params = preset.init(jax.random.PRNGKey(0), example)
  result = train(preset.loss_fn, params, sampler, config, progress=False)
  assert sorted(result.losses) == [1, 2] and np.all(np.isfinite(list(result.losses.values())))
  assert sorted(r['distillation_examples'] for r in result.records) == [0., 1.]
  for record in result.records:
    assert np.isfinite(record['grad_norm']) and record['grad_norm'] > 0
