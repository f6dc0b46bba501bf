"""Bad data during training is skipped and counted, and training goes on (tiny_ca)."""

import pathlib
import shutil

import numpy as np

from alphafold_jax.training import logging as log_lib
from alphafold_jax.training import presets
from alphafold_jax.training.data import DatasetSampler
from alphafold_jax.training.trainer import train
from data_pipeline import dataset as dataset_lib

DATA = pathlib.Path(__file__).resolve().parents[1] / 'data'
NANO = DATA / 'structures' / 'nano'


def _bad_data_dir(root: pathlib.Path) -> pathlib.Path:
  root.mkdir()
  shutil.copy(DATA / 'structures' / 'extra' / '102M.cif', root / '102M.cif')
  shutil.copytree(DATA / 'msa' / 'myoglobin_102M_A', root / '102M')
  shutil.copy(NANO / '1VII.pdb', root / '1VII.pdb')  # no MSA: single sequence
  shutil.copy(NANO / '1L2Y.pdb', root / '1L2Y.pdb')
  # An MSA whose query is another protein (myoglobin's MSA next to EGF).
  shutil.copy(DATA / 'structures' / 'extra' / '1EGF.pdb', root / '1EGF.pdb')
  shutil.copytree(DATA / 'msa' / 'myoglobin_102M_A', root / '1EGF')
  # A corrupt mmCIF.
  (root / 'BAD.cif').write_text('data_BAD\nloop_\n_atom_site.group_PDB\n#garbage 1 2\n')
  # A structure without resolved residues: 1CRN without its CA atoms.
  lines = (NANO / '1CRN.pdb').read_text().splitlines()
  (root / 'NOCA.pdb').write_text('\n'.join(
      l for l in lines if not (l.startswith('ATOM') and l[12:16] == ' CA ')) + '\n')
  return root


def test_bad_entries_are_skipped_counted_and_training_goes_on(tiny_preset, tmp_path):
  root = _bad_data_dir(tmp_path / 'data')
  dataset = dataset_lib.StructureDataset(root, dataset_lib.DatasetConfig(
      crop_size=13, buckets=None, num_res=13, feature_config=None, skip_bad=True,
      msa_query='align'), seed=0)
  reasons = {}
  dataset.validate(lambda name, reason: reasons.setdefault(name, reason))
  assert dataset.names == ['102M', '1L2Y', '1VII']
  assert sorted(reasons) == ['1EGF', 'BAD', 'NOCA'] == sorted(n for n, _ in dataset.skipped)
  assert 'not this chain' in reasons['1EGF'] and 'resolved' in reasons['NOCA']

  config = tiny_preset.train_config.replace(num_steps=4, batch_size=2, checkpoint_every=0)
  sampler = DatasetSampler(dataset, config.batch_size)
  params = tiny_preset.init(__import__('jax').random.PRNGKey(0), dataset.example(0))
  # A file that breaks after validation is skipped while training (another entry stands in).
  (root / '1L2Y.pdb').write_text('not a structure\n')
  result = train(tiny_preset.loss_fn, params, sampler, config, out_dir=tmp_path / 'run',
                 progress=False)
  assert sorted(result.losses) == [1, 2, 3, 4] and np.all(np.isfinite(list(result.losses.values())))
  assert list(sampler.failed) == ['1L2Y']
  records = [r for r in log_lib.read_jsonl(tmp_path / 'run' / 'metrics.jsonl') if r['kind'] == 'train']
  assert records[-1]['skipped_examples'] == 4  # 3 dropped up front + 1 failed while training


def test_recipe_presets_drop_bad_entries(tmp_path):
  """The af2_* presets' datasets are validated the same way (no model run)."""
  root = _bad_data_dir(tmp_path / 'data')
  dataset = presets.recipe_dataset(root, 16, None)
  assert dataset.names == ['102M', '1L2Y', '1VII'] and len(dataset.skipped) == 3
