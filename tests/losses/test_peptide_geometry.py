"""losses/peptide_geometry.py: zero on the truth, invariant under rigid motions, sees a cis
peptide and a stretched C-N bond that AF2's 12-sigma violation loss tolerates, finite grads."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.losses.peptide_geometry import peptide_geometry_loss
from alphafold_jax.metrics.structural_violations import atom37_to_atom14


@pytest.fixture(scope='module')
def ubiquitin(data_dir):
  prot = protein_lib.from_file(data_dir / 'structures' / 'nano' / '1UBQ.pdb')
  atom14, exists = atom37_to_atom14(prot.aatype, prot.atom_positions, prot.atom_mask)
  batch = {'atom14_gt_positions': atom14, 'atom14_gt_exists': exists,
           'residue_index': prot.residue_index}
  return batch, atom14


def _rotation(seed):
  q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
  return q * np.sign(np.linalg.det(q))


def test_zero_on_truth_and_rigid_invariant(ubiquitin):
  batch, atom14 = ubiquitin
  loss, _ = peptide_geometry_loss(jnp.asarray(atom14), batch)
  assert float(loss) <= 1e-3
  moved = atom14 @ _rotation(3).T + np.array([5., -7., 11.])
  noisy = atom14 + np.random.default_rng(0).normal(0, 0.3, atom14.shape)
  a, _ = peptide_geometry_loss(jnp.asarray(noisy), batch)
  b, _ = peptide_geometry_loss(jnp.asarray(noisy @ _rotation(3).T + np.array([5., -7., 11.])),
                               batch)
  assert float(a) > 0.1 and abs(float(a) - float(b)) <= 1e-4
  c, _ = peptide_geometry_loss(jnp.asarray(moved), batch)
  assert float(c) <= 1e-3


def test_sees_cis_peptide_and_small_bond_stretch(ubiquitin):
  batch, atom14 = ubiquitin
  # residues 31.. shifted by 0.1 A along the C30-N31 bond: one bond 0.1 A long (< 12 sigma)
  stretched = np.array(atom14)
  bond = stretched[30, 0] - stretched[29, 2]
  stretched[30:] += 0.1 * bond / np.linalg.norm(bond)
  loss, metrics = peptide_geometry_loss(jnp.asarray(stretched), batch)
  n_bonded = len(atom14) - 1
  # only pair (29, 30) changes: C-N by exactly 0.1 A, the other three distances by <= 0.1 A
  per = 0.1 + 0.1 ** 2 / 0.25  # e + e^2 / OUTLIER_SCALE at e = 0.1
  assert per / (4 * n_bonded) * 0.99 <= float(loss) <= 4 * per / (4 * n_bonded) * 1.01
  assert 0.1 / (4 * n_bonded) * 0.99 <= float(metrics['peptide_distance_error']) <= \
      0.4 / (4 * n_bonded) * 1.01
  # a cis peptide: rotate residues 41.. by 180 degrees about the C40-N41 bond axis
  cis = np.array(atom14)
  axis = cis[40, 0] - cis[39, 2]
  axis /= np.linalg.norm(axis)
  k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
  rot = np.eye(3) + 2 * k @ k  # Rodrigues, 180 degrees
  cis[40:] = (cis[40:] - cis[39, 2]) @ rot.T + cis[39, 2]
  _, cis_metrics = peptide_geometry_loss(jnp.asarray(cis), batch)
  assert float(cis_metrics['peptide_ca_ca_error']) * n_bonded > 0.5  # CA-CA 3.8 -> ~2.9 A


def test_gradients_finite_and_gaps_ignored(ubiquitin):
  batch, atom14 = ubiquitin
  grad = jax.grad(lambda x: peptide_geometry_loss(x, batch)[0])(jnp.asarray(atom14))
  assert np.all(np.isfinite(np.asarray(grad)))
  gapped = dict(batch, residue_index=np.asarray(batch['residue_index']) + (np.arange(
      len(atom14)) >= 41) * 5)
  broken = np.array(atom14)
  broken[41:] += 3.0  # a chain break exactly at the gap: not a peptide bond, no loss
  loss, _ = peptide_geometry_loss(jnp.asarray(broken), gapped)
  assert float(loss) <= 1e-3

