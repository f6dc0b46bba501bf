"""Amber relax with OpenMM: a noised crambin ends violation-free near its input, like the
failures are reported; the CLI hook writes relaxed_<stem>.pdb."""

import json
import os

import numpy as np
import pytest

pytest.importorskip('openmm', reason="Amber relax needs the relax extra: pip install "
                                     "'alphafold_jax[relax]' (openmm not installed)")
pytest.importorskip('pdbfixer', reason="Amber relax needs the relax extra: pip install "
                                       "'alphafold_jax[relax]' (pdbfixer not installed)")

# pylint: disable=g-import-not-at-top,wrong-import-position
from alphafold_jax.common import atoms
from alphafold_jax.common import protein as protein_lib
from alphafold_jax.relax import RelaxConfig, RelaxError, cli_support, heavy_atom_rmsd
from alphafold_jax.relax import relax_protein, violation_report


@pytest.fixture(scope='module')
def relaxed(noised_crambin):
  pdb_str, info = relax_protein(noised_crambin)
  return pdb_str, info, protein_lib.from_pdb_string(pdb_str)


def _fragment(prot, n):
  return prot.replace(aatype=prot.aatype[:n], atom_positions=prot.atom_positions[:n],
                      atom_mask=prot.atom_mask[:n], residue_index=prot.residue_index[:n],
                      b_factors=prot.b_factors[:n], insertion_codes=prot.insertion_codes[:n])


def test_noised_crambin_relaxes_to_zero_violations_near_its_input(noised_crambin, relaxed):
  pdb_str, info, prot = relaxed
  assert info['violations_before'] > 10  # the noise breaks bonds and makes clashes
  assert info['violations_after'] == 0 and info['violating_residues_after'] == []
  assert violation_report(prot)['num_residue_violations'] == 0
  assert info['rmsd_to_input'] <= 0.5
  assert info['rmsd_to_input'] == pytest.approx(heavy_atom_rmsd(noised_crambin, prot))
  assert info['final_energy'] < info['initial_energy']
  assert 1 <= info['outer_iterations'] <= 3 and info['attempts'] >= info['outer_iterations']
  assert info['time_s'] > 0
  json.dumps(info)  # JSON-ready
  # Same chain, numbering and atoms (plus OXT/hydrogens); hydrogens written; B-factors kept.
  np.testing.assert_array_equal(prot.aatype, noised_crambin.aatype)
  np.testing.assert_array_equal(prot.residue_index, noised_crambin.residue_index)
  assert np.all(prot.atom_mask[noised_crambin.atom_mask > 0.5] > 0.5)
  assert any(line[76:78].strip() == 'H' for line in pdb_str.splitlines()
             if line.startswith('ATOM'))
  ca = atoms.atom_order['CA']
  np.testing.assert_allclose(prot.b_factors[:, ca], noised_crambin.b_factors[:, ca], atol=0.006)


def test_missing_heavy_atoms_are_added(crambin):
  frag = _fragment(crambin, 6)  # TTCCPS
  mask = np.array(frag.atom_mask)
  cb = atoms.atom_order['CB']
  mask[4, cb] = 0.0  # PRO 5 loses its CB
  pdb_str, info = relax_protein(frag.replace(atom_mask=mask), RelaxConfig(max_outer_iterations=1))
  assert info['added_heavy_atoms'] == 1
  prot = protein_lib.from_pdb_string(pdb_str)
  assert prot.atom_mask[4, cb] == 1.0
  assert info['rmsd_to_input'] < 0.5


def test_bad_input_raises_a_relax_error(crambin):
  aatype = np.array(crambin.aatype)
  aatype[3] = 20
  with pytest.raises(RelaxError, match='UNK'):
    relax_protein(crambin.replace(aatype=aatype))


def test_relax_outputs_writes_relaxed_files_and_reports_failures(crambin, tmp_path):
  good = _fragment(crambin, 6)
  protein_lib.write_file(good, tmp_path / 'T1.pdb')
  protein_lib.write_file(good, tmp_path / 'T1.sample_1.pdb')
  bad_positions = np.array(good.atom_positions)
  bad_positions[1:] = bad_positions[0]  # every residue on top of the first: cannot relax
  bad_positions = bad_positions + np.arange(37)[None, :, None] * 1e-3  # distinct atoms
  protein_lib.write_file(good.replace(atom_positions=bad_positions), tmp_path / 'T2.pdb')
  before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

  config = RelaxConfig(max_outer_iterations=1, max_attempts=1)
  best = cli_support.relax_outputs(str(tmp_path), {'T1': ['T1.pdb', 'T1.sample_1.pdb'],
                                                   'T2': ['T2.pdb']}, 'best', config)
  assert [e['file'] for e in best['T1']] == ['T1.pdb']
  entry = best['T1'][0]
  assert entry['relaxed_file'] == 'relaxed_T1.pdb' and 'error' not in entry
  assert entry['violations_after'] == 0 and entry['rmsd_to_input'] < 0.5
  assert (tmp_path / 'relaxed_T1.pdb').is_file()
  assert not (tmp_path / 'relaxed_T1.sample_1.pdb').exists()
  failed = best['T2'][0]
  assert failed['relaxed_file'] is None
  assert failed['error'].startswith('RelaxError: minimisation failed after 1 attempt(s)')
  assert not (tmp_path / 'relaxed_T2.pdb').exists()
  for name, data in before.items():  # unrelaxed files untouched
    assert (tmp_path / name).read_bytes() == data
  assert not [p for p in os.listdir(tmp_path) if p.startswith('.relax-')]  # no temporaries
  json.dumps(best)

  every = cli_support.relax_outputs(str(tmp_path), {'T1': ['T1.pdb', 'T1.sample_1.pdb']},
                                    'all', config)
  assert [e['relaxed_file'] for e in every['T1']] == ['relaxed_T1.pdb', 'relaxed_T1.sample_1.pdb']


def test_predict_relax_failure_keeps_the_unrelaxed_files_and_reports_it(tmp_path):
  """`predict --relax best` wired end to end on a tiny random model, whose scrambled chain
  makes OpenMM's minimisation fail (NaN): the run still succeeds, pep.pdb is written, no
  relaxed file, and summary.json names the failure (relax_outputs' success path: above)."""
  import jax  # pylint: disable=import-outside-toplevel
  from alphafold_jax import cli  # pylint: disable=import-outside-toplevel
  from alphafold_jax.config import model_config  # pylint: disable=import-outside-toplevel
  from alphafold_jax.inference import weights  # pylint: disable=import-outside-toplevel
  from alphafold_jax.params import save_alphafold_params  # pylint: disable=import-outside-toplevel
  shapes = weights.expected_param_shapes(model_config('tiny'))
  rng = np.random.default_rng(0)
  params = jax.tree_util.tree_map(
      lambda s: (0.02 * rng.normal(size=s.shape)).astype(np.float32), shapes)
  save_alphafold_params(params, tmp_path / 'p.npz')
  (tmp_path / 'in.fasta').write_text('>pep\nGSHMKTAYIAKQRQ\n')
  out = tmp_path / 'out'
  code = cli.main(['predict', str(tmp_path / 'in.fasta'), '--preset', 'tiny', '--params',
                   str(tmp_path / 'p.npz'), '--relax', 'best', '--out', str(out), '--quiet',
                   '--no-plots'])
  assert code == 0
  summary = json.loads((out / 'summary.json').read_text())
  (entry,) = summary['targets'][0]['relax']
  assert entry['file'] == 'pep.pdb' and entry['relaxed_file'] is None
  assert 'RelaxError' in entry['error'] and (out / 'pep.pdb').exists()
  assert not (out / 'relaxed_pep.pdb').exists()
