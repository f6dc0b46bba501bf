"""Chain-aware structural violations (losses/multimer_violations.py) vs the oracle's
`folding_multimer.find_structural_violations` / `compute_violation_metrics` /
`structural_violation_loss` (AF2-Multimer v2.3, `all_atom_multimer` bond and clash terms).

Input: the shared loss `case` (13 crambin residues + 2 padding residues, loss_inputs.py) split
into three chains of 4, 5 and 4 residues, each numbered from 0 (as the multimer pipeline numbers chains), predictions = truth +
0.5 A noise. The chain boundaries cut real peptide bonds: C(i) and N(i+1) at 1.3 A become an
inter-chain clash and must not count as bonds.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from tests.oracle import oracle_import, requires_oracle

from alphafold_jax import losses as L
from alphafold_jax.losses.multimer_violations import CHAIN_OFFSET

fm = oracle_import('alphafold.model.folding_multimer')
from alphafold.model import geometry  # noqa: E402

pytestmark = requires_oracle

CHAINS = (4, 5, 4)
N_PAD = 2


@pytest.fixture(scope='module')
def complex_case(case):
  assert case['n_real'] == sum(CHAINS) and case['n'] == sum(CHAINS) + N_PAD
  asym = np.concatenate([np.full(n, k + 1) for k, n in enumerate(CHAINS)] + [np.zeros(N_PAD)])
  resid = np.concatenate([np.arange(n) for n in CHAINS] + [np.zeros(N_PAD)]).astype(np.int32)
  batch = {**case['batch'], 'asym_id': asym.astype(np.float32), 'residue_index': resid}
  return batch, jnp.asarray(case['pred']['structure_module']['final_atom14_positions'])


def _oracle(batch, pos, residue_index):
  cfg = ml_collections.ConfigDict({'violation_tolerance_factor': 12.0,
                                   'clash_overlap_tolerance': 1.5,
                                   'structural_violation_loss_weight': 1.0})
  mask = jnp.asarray(batch['atom14_atom_exists'])
  vec = geometry.Vec3Array.from_array(pos)
  v = fm.find_structural_violations(jnp.asarray(batch['aatype']), residue_index, mask, vec, cfg,
                                    jnp.asarray(batch['asym_id']))
  metrics = fm.compute_violation_metrics(residue_index, mask, jnp.asarray(batch['seq_mask']),
                                         vec, v)
  return v, metrics, fm.structural_violation_loss(mask, v, cfg)


def _ours(batch, pos):
  v = L.find_chain_aware_violations(batch, pos)
  return (v, L.chain_aware_violation_metrics(batch, pos, v),
          L.structural_violation_loss(v, batch['atom14_atom_exists']))


def test_chain_aware_violations_match_oracle_with_disjoint_chain_numbering(complex_case):
  """Ours on per-chain numbering == the oracle on the same chains numbered apart
  (residue_index + asym_id * CHAIN_OFFSET), where its residue-index rules are chain-aware."""
  batch, pos = complex_case
  apart = jnp.asarray(batch['residue_index'] + batch['asym_id'].astype(np.int32) * CHAIN_OFFSET)
  ref, ref_m, ref_loss = jax.jit(_oracle)(batch, pos, apart)
  ours, ours_m, our_loss = jax.jit(_ours)(batch, pos)
  flat_ref = jax.tree_util.tree_leaves_with_path(ref)
  flat_ours = dict(jax.tree_util.tree_leaves_with_path(ours))
  assert len(flat_ref) == len(flat_ours) == 11
  for path, r in flat_ref:
    np.testing.assert_allclose(flat_ours[path], r, rtol=1e-5, atol=1e-6,
                               err_msg=jax.tree_util.keystr(path))
  for k in ref_m:
    np.testing.assert_allclose(ours_m[k], ref_m[k], rtol=1e-5, atol=1e-6, err_msg=k)
  np.testing.assert_allclose(our_loss, ref_loss, rtol=1e-5)
  between = ours['between_residues']
  assert float(between['bonds_c_n_loss_mean']) > 0 and float(between['clashes_mean_loss']) > 0
  # The cut peptide bonds are inter-chain clash pairs (C of a chain's last residue, N of the
  # next chain's first; vdW radii 1.7 + 1.55 A - 1.5 A tolerance): no C-N exemption.
  per_atom = np.asarray(between['clashes_per_atom_loss_sum'])
  cut = []
  for last in np.cumsum(CHAINS)[:-1] - 1:
    c_n = float(jnp.linalg.norm(pos[last, 2] - pos[last + 1, 0]))
    cut.append(max(0.0, 1.7 + 1.55 - 1.5 - c_n))
    assert per_atom[last, 2] >= cut[-1] - 1e-5 and per_atom[last + 1, 0] >= cut[-1] - 1e-5
  assert max(cut) > 0.3


def test_oracle_numbering_quirks_are_not_copied(complex_case):
  """DISCREPANCY (module docstring): with chains numbered from 0 the oracle drops
  inter-chain clashes between equal residue indices; with chains numbered on (last k, next
  k + 1) it scores a peptide bond across the chain break. Ours gives the same for all three
  numberings. Chain B is moved so that its residue 0 sits 1 A from chain A's residue 0."""
  batch, pos = complex_case
  b0 = CHAINS[0]
  shift = pos[0, 1] - pos[b0, 1] + jnp.array([1.0, 0.0, 0.0])
  pos = pos.at[b0:b0 + CHAINS[1]].add(shift)
  ours = jax.jit(_ours)(batch, pos)
  numbered_on = np.arange(batch['aatype'].shape[0]).astype(np.int32)
  ours_on = jax.jit(_ours)({**batch, 'residue_index': numbered_on}, pos)
  for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(ours_on)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  apart = batch['residue_index'] + batch['asym_id'].astype(np.int32) * CHAIN_OFFSET
  ref_apart = jax.jit(_oracle)(batch, pos, jnp.asarray(apart))[0]['between_residues']
  ref_restart = jax.jit(_oracle)(batch, pos, jnp.asarray(batch['residue_index']))[0]
  ref_on = jax.jit(_oracle)(batch, pos, jnp.asarray(numbered_on))[0]
  between = ours[0]['between_residues']
  clash = lambda v: np.asarray(v['clashes_per_atom_loss_sum'])
  np.testing.assert_allclose(clash(between), clash(ref_apart), rtol=1e-5, atol=1e-6)
  # the equal-index pair (A0, B0) clashes: scored here, dropped by the oracle's rule
  assert clash(between)[0].sum() > clash(ref_restart['between_residues'])[0].sum() + 1.0
  assert clash(between)[b0].sum() > clash(ref_restart['between_residues'])[b0].sum() + 1.0
  assert float(ref_on['between_residues']['bonds_c_n_loss_mean']) > 2 * float(
      between['bonds_c_n_loss_mean'])


def test_chain_residue_index_and_violation_loss_wrapper(complex_case):
  batch, pos = complex_case
  idx = np.asarray(L.chain_residue_index(batch['residue_index'], batch['asym_id']))
  real = batch['asym_id'] > 0
  assert len(np.unique(idx[real])) == int(real.sum())
  steps = np.diff(idx) == 1
  same_chain = batch['asym_id'][1:] == batch['asym_id'][:-1]
  assert np.array_equal(steps & real[1:], same_chain & real[1:])
  pred = {'structure_module': {'final_atom14_positions': pos}}
  loss, metrics = jax.jit(L.chain_aware_violation_loss)(pred, batch)
  np.testing.assert_allclose(loss, jax.jit(_ours)(batch, pos)[2], rtol=1e-6)
  assert float(metrics['violation_loss']) == float(loss)
  grad = jax.jit(jax.grad(lambda p: L.chain_aware_violation_loss(
      {'structure_module': {'final_atom14_positions': p}}, batch)[0]))(pos)
  assert np.all(np.isfinite(grad)) and float(jnp.abs(grad).max()) > 0
