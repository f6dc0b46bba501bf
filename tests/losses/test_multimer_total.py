"""AF2-Multimer training loss (losses/multimer_total.py): the monomer total on a one-chain
input, the chain-aware terms wired in on a three-chain input. Inputs from loss_inputs.py (the
oracle builds the labels there, hence the marker)."""

import jax
import numpy as np
import pytest

from tests.oracle import requires_oracle

from alphafold_jax import losses as L
from alphafold_jax.losses import _frames
from alphafold_jax.losses.fape import backbone_target

pytestmark = requires_oracle

CHAINS = (4, 5, 4)  # the shared loss `case` (13 crambin residues + 2 padding) as 3 chains


@pytest.fixture(scope='module')
def case3(case):
  assert case['n_real'] == sum(CHAINS)
  batch = {k: v for k, v in case['batch'].items() if k != 'use_clamped_fape'}
  asym = np.concatenate([np.full(n, k + 1) for k, n in enumerate(CHAINS)] + [np.zeros(2)])
  return case['pred'], batch, asym.astype(np.float32)


@jax.jit
def _losses(pred, batch):
  """Everything both tests compare, in one compiled program (the same shapes serve both)."""
  cfg = L.LossConfig.fine_tuning()
  total0, m0 = L.alphafold_multimer_loss(pred, batch, cfg)
  total1, m1 = L.alphafold_multimer_loss(pred, batch,
                                         cfg.replace(chain_center_of_mass_weight=0.5))
  mono_total, mono = L.alphafold_loss(pred, batch, cfg)
  sm = pred['structure_module']
  target, mask = backbone_target(batch)
  return dict(
      total0=total0, m0=m0, total1=total1, m1=m1, mono_total=mono_total, mono=mono,
      com=L.chain_center_of_mass_loss(sm['final_atom_positions'], batch['all_atom_positions'],
                                      batch['all_atom_mask'], batch['asym_id']),
      fape=L.chain_aware_backbone_loss(_frames.to_rigid(sm['traj']), target, mask,
                                       batch['asym_id'])[1],
      viol=L.chain_aware_violation_loss(pred, batch, cfg)[0])


def test_one_chain_equals_the_monomer_loss(case3):
  pred, batch, asym = case3
  out = _losses(pred, {**batch, 'asym_id': (asym > 0).astype(np.float32)})
  m, mono = out['m1'], out['mono']
  # The FAPE epsilon enters as sqrt(max(d^2, eps^2)) vs sqrt(d^2 + eps) (multimer.py): each
  # point seen from its own frame (d ~ 0) adds 1e-4 vs 1e-2 A: 1.2e-4 relative here.
  np.testing.assert_allclose(out['total1'], out['mono_total'], rtol=5e-4)
  np.testing.assert_allclose(m['fape'], mono['fape'], rtol=5e-4)
  for k in ('violation_loss', 'sidechain_fape', 'violations_per_residue'):
    np.testing.assert_allclose(m[k], mono[k], rtol=1e-5, err_msg=k)
  assert float(m['chain_center_of_mass_loss']) == 0.0


def test_three_chains_use_the_chain_aware_terms(case3):
  """Chains numbered on (0..N-1, as a complex can be): the monomer loss scores the two cut
  peptide bonds and exempts their C-N pairs from clashes; the multimer loss does not. Chain 3
  is moved onto chain 1 in final_atom_positions (overlapping chains)."""
  pred, batch, asym = case3
  cplx = {**batch, 'asym_id': asym,
          'residue_index': np.arange(asym.shape[0], dtype=np.int32)}
  sm = dict(pred['structure_module'])
  shift = np.zeros_like(sm['final_atom_positions'])
  sel = asym == 3
  shift[sel] = (batch['all_atom_positions'][asym == 1, 1].mean(0)
                - batch['all_atom_positions'][sel, 1].mean(0))
  sm['final_atom_positions'] = sm['final_atom_positions'] + shift
  out = _losses({**pred, 'structure_module': sm}, cplx)
  m0, m1, mono = out['m0'], out['m1'], out['mono']
  assert 'chain_center_of_mass_loss' not in m0 and float(out['com']) > 1e-3
  np.testing.assert_allclose(m1['chain_center_of_mass_loss'], out['com'], rtol=1e-6)
  np.testing.assert_allclose(out['total1'] - out['total0'], 0.5 * out['com'], rtol=1e-4)
  np.testing.assert_allclose(m0['fape'], out['fape'], rtol=1e-6)
  np.testing.assert_allclose(m0['violation_loss'], out['viol'], rtol=1e-6)
  assert abs(float(m0['fape']) - float(mono['fape'])) > 1e-3  # interface pairs: scale 20 A
  assert abs(float(m0['violation_loss']) - float(mono['violation_loss'])) > 1e-3
