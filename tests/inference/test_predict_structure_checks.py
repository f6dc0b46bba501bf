"""README's main job (`predict tests/data/crambin.fasta` with the bundled weights) writes the
chemical-sanity figures and AF2's violation metric into the confidence JSON, and the bundled
nano_ipa model's raw output is a protein: crambin within 1 A CA-RMSD of 1CRN, peptide bonds at
crystal length (issue #19).

Cost: one compile of the bundled nano_ipa model at bucket 64 (persistent-cache hit after the
first run)."""

import json
import math

import pytest

from alphafold_jax import cli

GEOMETRY_NUMBERS = ('c_n_median_abs_deviation', 'c_n_max', 'ca_ca_min', 'ca_ca_max')
VIOLATION_FRACTIONS = ('violations_between_residue_bond', 'violations_between_residue_clash',
                       'violations_within_residue', 'violations_per_residue',
                       'violations_extreme_ca_ca_distance', 'violations_ca_chirality')


def test_crambin_prediction_json_has_geometry_and_violations(data_dir, tmp_path):
  assert cli.main(['predict', str(data_dir / 'crambin.fasta'), '--out', str(tmp_path / 'out'),
                   '--quiet', '--no-plots']) == 0
  conf = json.loads((tmp_path / 'out' / 'crambin.confidence.json').read_text())
  geometry, violations = conf['geometry'], conf['violations']
  assert set(geometry) >= {
      'c_n_bonds', 'c_n_over_1_8', 'ca_ca_pairs', 'ca_ca_outside_3_6_4_0', *GEOMETRY_NUMBERS}
  assert geometry['c_n_bonds'] == 45  # 46 residues, one chain
  assert geometry['ca_ca_pairs'] + len(geometry['cis_proline_positions']) == 45
  for name in GEOMETRY_NUMBERS:
    assert isinstance(geometry[name], float) and math.isfinite(geometry[name]), name
  assert 0 < geometry['ca_ca_min'] <= geometry['ca_ca_max']
  assert len(geometry['c_n_over_1_8_positions']) == geometry['c_n_over_1_8']
  for name in VIOLATION_FRACTIONS:
    assert math.isfinite(violations[name]) and 0. <= violations[name] <= 1., name
  count = violations['num_residue_violations']
  assert isinstance(count, int) and 0 <= count <= 46
  assert violations['residue_violations'] == sorted(violations['residue_violations'])
  assert len(violations['residue_violations']) == count
  assert violations['violations_per_residue'] * 46 == pytest.approx(count, abs=1e-4)


def test_bundled_model_predicts_crambin_with_sane_peptides(data_dir, tmp_path):
  from alphafold_jax.common import protein as protein_lib
  from alphafold_jax.metrics.scoring import score_proteins
  out = tmp_path / 'out'
  assert cli.main(['predict', str(data_dir / 'crambin.fasta'), '--out', str(out), '--quiet',
                   '--no-plots', '--seed', '7']) == 0
  geometry = json.loads((out / 'crambin.confidence.json').read_text())['geometry']
  assert geometry['c_n_median_abs_deviation'] <= 0.05
  assert geometry['c_n_over_1_8'] == 0 and geometry['ca_ca_outside_3_6_4_0'] == 0
  scores = score_proteins(protein_lib.from_file(out / 'crambin.pdb'),
                          protein_lib.from_file(data_dir / 'structures' / 'nano' / '1CRN.pdb'))
  assert scores['ca_rmsd'] <= 1.0
