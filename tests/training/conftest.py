"""Fixtures for the training tests: tiny real examples + the tiny_ca preset."""

import pathlib

import jax
import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.training import presets

NANO = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'structures' / 'nano'
CROP = 13  # small and odd, so a transposed residue axis cannot pass


@pytest.fixture(scope='session')
def tiny_preset():
  return presets.get_preset('tiny_ca')


@pytest.fixture(scope='session')
def tiny_examples():
  """Real proteins (1L2Y 20 res, 1VII 36 res, 1CRN 46 res) cropped to 13 residues, plus
  a shorter one padded (1L2Y cut to 9 residues -> 4 padded positions)."""
  proteins = [protein_lib.from_file(NANO / f'{n}.pdb') for n in ('1L2Y', '1VII', '1CRN')]
  examples = presets.structure_examples(proteins, crop_size=CROP)
  short = presets.structure_examples([proteins[0]], crop_size=9)[0]
  padded = {k: np.pad(v, [(0, CROP - 9)] + [(0, 0)] * (v.ndim - 1))
            for k, v in short.items()}
  return examples + [padded]


@pytest.fixture(scope='session')
def tiny_params(tiny_preset, tiny_examples):
  return tiny_preset.init(jax.random.PRNGKey(42), tiny_examples[0])
