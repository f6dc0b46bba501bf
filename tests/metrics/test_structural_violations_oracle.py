"""AF2's violation figures from our functions (metrics/structural_violations.py) equal the
oracle's (`amber_minimize.find_violations`: folding.find_structural_violations +
compute_violation_metrics on AF2's atom14 batch) on the crystal 1CRN and noised copies."""

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.metrics.structural_violations import atom37_to_atom14, violation_report
from tests.oracle import oracle_import, requires_oracle

pytestmark = requires_oracle

pytest.importorskip('openmm', reason="the oracle's relax module needs openmm "
                                     "(pip install 'alphafold_jax[relax]')")

_FRACTIONS = ('violations_between_residue_bond', 'violations_between_residue_clash',
              'violations_within_residue', 'violations_per_residue',
              'violations_extreme_ca_ca_distance')


@pytest.fixture(scope='module')
def crambin(data_dir):
  return protein_lib.from_file(data_dir / 'structures' / 'nano' / '1CRN.pdb')


def _noised(prot, sigma, seed=0):
  rng = np.random.default_rng(seed)
  return prot.replace(atom_positions=prot.atom_positions + rng.normal(
      0.0, sigma, prot.atom_positions.shape) * prot.atom_mask[..., None])


def _oracle(prot):
  amber_minimize = oracle_import('alphafold.relax.amber_minimize')
  from alphafold.common import protein as oracle_protein  # pylint: disable=import-outside-toplevel
  theirs = oracle_protein.from_pdb_string(protein_lib.to_pdb(prot))
  violations, metrics = amber_minimize.find_violations(theirs)
  return violations, {k: float(v) for k, v in metrics.items()}


@pytest.mark.parametrize('sigma', [0.0, 0.1, 0.3])
def test_violation_report_equals_the_oracle(crambin, sigma):
  prot = _noised(crambin, sigma) if sigma else crambin
  prot = protein_lib.from_pdb_string(protein_lib.to_pdb(prot))  # the coordinates both see
  ours = violation_report(prot.aatype, prot.atom_positions, prot.atom_mask, prot.residue_index)
  violations, metrics = _oracle(prot)
  total = np.asarray(violations['total_per_residue_violations_mask'])
  assert ours['residue_violations'] == [int(i) for i in np.flatnonzero(total)]
  assert ours['num_residue_violations'] == int(total.sum())
  between, within = violations['between_residues'], violations['within_residues']
  kinds = {
      'between_residue_bond': np.asarray(between['connections_per_residue_violation_mask']),
      'between_residue_clash': np.max(np.asarray(between['clashes_per_atom_clash_mask']), -1),
      'within_residue': np.max(np.asarray(within['per_atom_violations']), -1)}
  for kind, mask in kinds.items():
    assert ours[f'num_{kind}'] == int(mask.sum()), kind
  for name in _FRACTIONS:
    assert ours[name] == pytest.approx(metrics[name], abs=1e-5), name
  if sigma == 0.0:
    assert ours['num_residue_violations'] == 0
  else:  # non-trivial inputs: violations of several kinds
    assert ours['num_between_residue_bond'] > 0 and ours['num_within_residue'] > 0
  if sigma == 0.1:  # some residues, not all
    assert 0 < ours['num_residue_violations'] < prot.num_residues
  if sigma == 0.3:
    assert ours['num_between_residue_clash'] > 0


def test_atom14_positions_match_the_oracle_batch(crambin):
  amber_minimize = oracle_import('alphafold.relax.amber_minimize')
  prot = _noised(crambin, 0.3, seed=1)
  batch = amber_minimize.make_atom14_positions({
      'aatype': prot.aatype, 'all_atom_positions': prot.atom_positions,
      'all_atom_mask': prot.atom_mask, 'residue_index': prot.residue_index})
  positions, exists = atom37_to_atom14(prot.aatype, prot.atom_positions, prot.atom_mask)
  np.testing.assert_array_equal(exists, batch['atom14_gt_exists'])
  np.testing.assert_allclose(positions, batch['atom14_gt_positions'], atol=1e-6)


def test_padding_changes_nothing(crambin):
  """The report of a chain equals that of the same chain checked within a longer padding."""
  from alphafold_jax.metrics import structural_violations as sv  # pylint: disable=import-outside-toplevel
  prot = _noised(crambin, 0.1)
  args = (prot.aatype, prot.atom_positions, prot.atom_mask, prot.residue_index)
  default = sv.violation_report(*args)
  old = sv.PAD_MULTIPLE
  try:
    sv.PAD_MULTIPLE = 64
    padded = sv.violation_report(*args)
  finally:
    sv.PAD_MULTIPLE = old
  assert padded['residue_violations'] == default['residue_violations']
  assert default['num_residue_violations'] > 0
  for name, value in default.items():
    if name != 'residue_violations':
      assert padded[name] == pytest.approx(value, abs=1e-6), name
