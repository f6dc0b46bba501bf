"""LossConfig.violation_loss_tolerance_factor narrows the flat bottom of the bond/angle LOSS
while the violation METRIC keeps AF2's 12 sigma (losses/violations.py)."""

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.losses.config import LossConfig
from alphafold_jax.losses.violations import violation_loss
from alphafold_jax.metrics.structural_violations import atom37_to_atom14


@pytest.fixture(scope='module')
def stretched_crambin(data_dir):
  """1CRN with every residue after residue 20 moved 0.08 A along x: one C-N bond is off by
  up to 0.08 A (under 12 sigma = 0.168 A), the rest ideal."""
  prot = protein_lib.from_file(data_dir / 'structures' / 'nano' / '1CRN.pdb')
  pos = np.array(prot.atom_positions)
  pos[21:, :, 0] += 0.08
  atom14, exists = atom37_to_atom14(prot.aatype, pos, prot.atom_mask)
  batch = {'aatype': prot.aatype, 'residue_index': prot.residue_index,
           'atom14_atom_exists': exists, 'seq_mask': np.ones(len(prot.aatype), np.float32)}
  return batch, atom14


def _loss_and_metrics(case, **config):
  batch, atom14 = case
  predictions = {'structure_module': {'final_atom14_positions': atom14}}
  loss, metrics = violation_loss(predictions, batch, LossConfig(**config))
  return float(loss), {k: float(v) for k, v in metrics.items()}


def test_narrow_loss_tolerance_penalises_what_af2_tolerates(stretched_crambin):
  af2_loss, af2_metrics = _loss_and_metrics(stretched_crambin)
  loss0, metrics0 = _loss_and_metrics(stretched_crambin, violation_loss_tolerance_factor=0.0)
  loss2, _ = _loss_and_metrics(stretched_crambin, violation_loss_tolerance_factor=2.0)
  # Crystal deviations of 1CRN are inside 12 sigma: AF2's bond/angle loss is zero.
  assert af2_loss == pytest.approx(0.0, abs=1e-6)
  assert loss0 > loss2 > 0.0
  # The metric (12 sigma) does not move with the loss tolerance.
  for name in ('violations_between_residue_bond', 'violations_per_residue'):
    assert metrics0[name] == af2_metrics[name]
  assert af2_metrics['violations_between_residue_bond'] == 0.0


def test_negative_loss_tolerance_is_refused():
  with pytest.raises(ValueError, match='violation_loss_tolerance_factor'):
    LossConfig(violation_loss_tolerance_factor=-1.0)
