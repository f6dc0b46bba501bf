"""Without the `relax` extra: one clear error, and nothing else breaks (no OpenMM needed)."""

import argparse
import subprocess
import sys

import numpy as np
import pytest

from alphafold_jax import relax
from alphafold_jax.relax import cli_support
from alphafold_jax.relax.relax import check_relaxable


@pytest.fixture
def no_openmm(monkeypatch):
  """Makes `import openmm` / `import pdbfixer` fail as if the extra were not installed."""
  for name in ('openmm', 'openmm.app', 'openmm.unit', 'pdbfixer'):
    monkeypatch.setitem(sys.modules, name, None)


def test_relax_without_the_extra_names_the_install_command(no_openmm, crambin):
  with pytest.raises(relax.RelaxUnavailableError) as info:
    relax.relax_protein(crambin)
  message = str(info.value)
  assert "pip install 'alphafold_jax[relax]'" in message
  assert '\n' not in message and 'openmm' in message and 'pdbfixer' in message
  assert isinstance(info.value, ImportError)
  assert not relax.is_available()


def test_cli_hook_without_the_extra(no_openmm, tmp_path):
  parser = argparse.ArgumentParser()
  cli_support.add_relax_argument(parser)
  assert parser.parse_args([]).relax == 'none'
  assert parser.parse_args(['--relax', 'all']).relax == 'all'
  with pytest.raises(SystemExit):
    parser.parse_args(['--relax', 'some'])
  assert cli_support.relax_outputs(str(tmp_path), {'T1': ['T1.pdb']}, 'none') == {}
  cli_support.check_relax_mode('none')
  with pytest.raises(relax.RelaxUnavailableError, match=r"pip install 'alphafold_jax\[relax\]'"):
    cli_support.check_relax_mode('best')
  with pytest.raises(relax.RelaxUnavailableError):  # raised, not reported per file
    cli_support.relax_outputs(str(tmp_path), {'T1': ['T1.pdb']}, 'best')


def test_importing_the_package_does_not_import_openmm():
  code = ('import sys, alphafold_jax.relax, alphafold_jax.relax.cli_support; '
          'assert "openmm" not in sys.modules and "pdbfixer" not in sys.modules')
  subprocess.run([sys.executable, '-c', code], check=True)


def test_relaxed_file_names():
  assert cli_support.relaxed_name('T1.pdb') == 'relaxed_T1.pdb'
  assert cli_support.relaxed_name('sub/T1.sample_2.pdb') == 'sub/relaxed_T1.sample_2.pdb'
  assert cli_support.relaxed_name('T1.cif') == 'relaxed_T1.pdb'


@pytest.mark.parametrize('problem, match', [
    ('unk', 'UNK'), ('one_residue', 'at least 2'), ('no_ca', 'without N, CA and C'),
    ('nan', 'non-finite')])
def test_inputs_amber_cannot_take_are_rejected_in_one_line(crambin, problem, match):
  prot = crambin
  if problem == 'unk':
    aatype = np.array(prot.aatype)
    aatype[3] = 20
    prot = prot.replace(aatype=aatype)
  elif problem == 'one_residue':
    prot = prot.replace(aatype=prot.aatype[:1], atom_positions=prot.atom_positions[:1],
                        atom_mask=prot.atom_mask[:1], residue_index=prot.residue_index[:1],
                        b_factors=prot.b_factors[:1], insertion_codes=prot.insertion_codes[:1])
  elif problem == 'no_ca':
    mask = np.array(prot.atom_mask)
    mask[5, 1] = 0
    prot = prot.replace(atom_mask=mask)
  else:
    positions = np.array(prot.atom_positions)
    positions[2, 0, 0] = np.nan
    prot = prot.replace(atom_positions=positions)
  with pytest.raises(relax.RelaxError, match=match) as info:
    check_relaxable(prot)
  assert '\n' not in str(info.value)


def test_config_rejects_bad_settings():
  with pytest.raises(ValueError):
    relax.RelaxConfig(max_outer_iterations=0)
  with pytest.raises(ValueError):
    relax.RelaxConfig(solvent='tip3p')
  assert relax.RelaxConfig(exclude_residues=[3, 1]).exclude_residues == (3, 1)
