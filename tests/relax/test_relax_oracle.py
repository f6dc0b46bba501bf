"""Our Amber relax equals the oracle's AmberRelaxation (run_alphafold.py settings, CPU) on a
noised crambin, and our violation functions count what AF2's count."""

import random

import pytest

from tests.oracle import oracle_import, requires_oracle

pytest.importorskip('openmm', reason="Amber relax needs the relax extra: pip install "
                                     "'alphafold_jax[relax]' (openmm not installed)")
pytest.importorskip('pdbfixer', reason="Amber relax needs the relax extra: pip install "
                                       "'alphafold_jax[relax]' (pdbfixer not installed)")

# pylint: disable=g-import-not-at-top,wrong-import-position
from alphafold_jax.common import protein as protein_lib
from alphafold_jax.relax import heavy_atom_rmsd, relax_protein

pytestmark = requires_oracle


@pytest.fixture(scope='module')
def relaxed(noised_crambin):
  pdb_str, info = relax_protein(noised_crambin)
  return pdb_str, info, protein_lib.from_pdb_string(pdb_str)


def test_matches_the_oracle_amber_relaxation(noised_crambin, relaxed):
  oracle_relax = oracle_import('alphafold.relax.relax')
  from alphafold.common import protein as oracle_protein  # pylint: disable=import-outside-toplevel
  from alphafold.relax import amber_minimize  # pylint: disable=import-outside-toplevel
  oracle_input = oracle_protein.from_pdb_string(protein_lib.to_pdb(noised_crambin))
  relaxer = oracle_relax.AmberRelaxation(  # run_alphafold.py's settings, CPU
      max_iterations=0, tolerance=2.39, stiffness=10.0, exclude_residues=[],
      max_outer_iterations=3, use_gpu=False)
  state = random.getstate()
  random.seed(0)  # the same hydrogen placement draws as ours (cleanup.clean_pdb seeds 0)
  try:
    oracle_pdb, _, oracle_violations = relaxer.process(prot=oracle_input)
  except Exception as e:  # pylint: disable=broad-except
    pytest.skip(f"the oracle's AmberRelaxation cannot run here: {type(e).__name__}: {e}")
  finally:
    random.setstate(state)
  _, info, ours = relaxed
  theirs = protein_lib.from_pdb_string(oracle_pdb)
  assert sum(oracle_violations) == 0
  assert heavy_atom_rmsd(theirs, ours) <= 0.1
  # Our violation functions count what AF2's count, before and after.
  before = amber_minimize.get_violation_metrics(oracle_input)['num_residue_violations']
  assert info['violations_before'] == before
  after = amber_minimize.get_violation_metrics(oracle_protein.from_pdb_string(
      protein_lib.to_pdb(ours)))['num_residue_violations']
  assert after == info['violations_after'] == 0
