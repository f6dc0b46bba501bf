"""Fixtures for the training tests: tiny real examples + the tiny_ca preset."""

import pathlib

import jax
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.training import presets
from data_pipeline import examples as examples_lib

NANO = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'structures' / 'nano'
CROP = 13  # small and odd, so a transposed residue axis cannot pass


@pytest.fixture(scope='session')
def tiny_preset():
  return presets.get_preset('tiny_ca')


@pytest.fixture(scope='session')
def tiny_named():
  """[(name, Protein)] of 1L2Y (20 res), 1VII (36 res), 1CRN (46 res)."""
  return [(n, protein_lib.from_file(NANO / f'{n}.pdb')) for n in ('1L2Y', '1VII', '1CRN')]


@pytest.fixture(scope='session')
def tiny_examples(tiny_named):
  """Structure-only examples from the one builder: the three proteins cropped to 13 residues,
  plus a shorter one padded (1L2Y cropped to 9 residues -> 4 padded positions)."""
  examples = presets.training_examples(tiny_named, CROP, None, seed=0)
  short = examples_lib.ExampleSet(examples.sources[:1], examples_lib.ExampleConfig(
      crop_size=9, buckets=None, num_res=CROP, feature_config=None))
  return [examples.example(i) for i in range(len(examples))] + [short.example(0)]


@pytest.fixture(scope='session')
def tiny_params(tiny_preset, tiny_examples):
  return tiny_preset.init(jax.random.PRNGKey(42), tiny_examples[0])
