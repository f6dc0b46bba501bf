"""Shared inputs of the relax tests: crambin (1CRN) with Gaussian noise on every atom."""

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib

NOISE_A = 0.1  # per-coordinate standard deviation, Angstrom: ~36 of 46 residues violate


def noised(prot: protein_lib.Protein, sigma: float = NOISE_A, seed: int = 0):
  rng = np.random.default_rng(seed)
  noise = rng.normal(0.0, sigma, prot.atom_positions.shape) * prot.atom_mask[..., None]
  return prot.replace(atom_positions=prot.atom_positions + noise)


@pytest.fixture(scope='session')
def crambin(data_dir) -> protein_lib.Protein:
  return protein_lib.from_file(data_dir / 'structures' / 'nano' / '1CRN.pdb')


@pytest.fixture(scope='session')
def noised_crambin(crambin) -> protein_lib.Protein:
  return noised(crambin)
