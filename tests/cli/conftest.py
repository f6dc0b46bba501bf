"""Shared fixtures of the bad-input tests (issue 23): tiny random params, real structures, and
ONE prediction run (the only model compile of these tests: tiny preset, bucket 16)."""

import jax
import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.config import model_config
from alphafold_jax.inference import weights
from alphafold_jax.params import save_alphafold_params
from tests.cli.cli_testing import NANO, SEQ_LONG, SEQ_SHORT, cli_run


@pytest.fixture(scope='session')
def tiny_npz(tmp_path_factory):
  """(path, params) of random parameters of the `tiny` preset."""
  shapes = weights.expected_param_shapes(model_config('tiny', num_recycle=0))
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda s: (0.1 * rng.normal(size=s.shape)).astype(s.dtype), shapes)
  path = tmp_path_factory.mktemp('params') / 'tiny.npz'
  save_alphafold_params(params, path)
  return path, params


@pytest.fixture(scope='session')
def one_model_pdb(tmp_path_factory):
  """1L2Y (first model only, 20 residues) as PDB and mmCIF text: small inputs to mutate."""
  prot = protein_lib.from_file(NANO / '1L2Y.pdb')
  return protein_lib.to_pdb(prot), protein_lib.to_mmcif(prot, '1L2Y')


@pytest.fixture(scope='session')
def predict_run(tmp_path_factory, tiny_npz):
  """One predict run: a short target (bucket 16) and a long one padded to 512 by --buckets 16,
  refused by the memory estimate (8 MiB available, injected through the environment)."""
  work = tmp_path_factory.mktemp('predict_run')
  fasta = work / 'in.fasta'
  fasta.write_text(f'>short first\n{SEQ_SHORT}\n>long second\n{SEQ_LONG}\n')
  result = cli_run(['predict', fasta, '--preset', 'tiny', '--params', tiny_npz[0],
                    '--num-recycle', '0', '--buckets', '16', '--out', work / 'out', '--quiet'],
                   env={'ALPHAFOLD_JAX_AVAILABLE_MEMORY_MIB': '8'})
  return result, work / 'out'
