"""RMSD, TM-score and GDT: rigid-motion invariance, known domain moves, masks."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from alphafold_jax.common import protein
from alphafold_jax.geometry import kabsch
from alphafold_jax.metrics import gdt, superposition_search
from alphafold_jax.metrics.rmsd import ca_rmsd, rmsd
from alphafold_jax.metrics.tm_score import tm_d0, tm_score, tm_score_fixed


@pytest.fixture(scope='module')
def ubq(data_dir):
  p = protein.from_file(data_dir / 'structures/nano/1UBQ.pdb')
  return p.atom_positions[:, 1].astype(np.float64), p


def _moved(x, seed):
  rng = np.random.default_rng(seed)
  return x @ Rotation.random(random_state=rng).as_matrix().T + rng.normal(size=3) * 30.


def test_identical_up_to_rigid_motion(ubq):
  x, p = ubq
  y = _moved(x, 0)
  assert float(rmsd(y, x)) < 1e-3
  assert float(rmsd(y, x, superpose=False)) > 1.
  assert tm_score(y, x) == pytest.approx(1., abs=1e-6)
  assert gdt.gdt_ts(y, x) == pytest.approx(1.)
  assert gdt.gdt_ha(y, x) == pytest.approx(1.)
  pos37 = p.atom_positions.copy()
  pos37_moved = pos37 @ Rotation.random(random_state=3).as_matrix().T
  assert float(ca_rmsd(pos37_moved, pos37, p.atom_mask)) < 1e-3


def test_d0():
  assert tm_d0(76) == pytest.approx(1.24 * 61 ** (1 / 3) - 1.8)
  assert tm_d0(10) == 0.5 and tm_d0(21) == 0.5
  assert tm_d0(300) == pytest.approx(1.24 * 285 ** (1 / 3) - 1.8)


def test_domain_move_found_by_search(ubq):
  """50 residues exact, 26 displaced 20 A: the search must find the 50-residue core."""
  x, _ = ubq
  n = len(x)
  y = x.copy()
  y[50:] += np.array([20., 0., 0.])
  y = _moved(y, 1)
  d0 = tm_d0(n)
  lower = 50 / n
  tm = tm_score(y, x)
  # the moved part contributes at most 26 / (1 + (~20/d0)^2) / n
  assert lower <= tm <= lower + 26 / (1 + (15. / d0) ** 2) / n
  # Kabsch on all residues alone is much worse, so the search mattered
  rigid_all, _ = kabsch(y.astype(np.float32), x.astype(np.float32))
  assert tm_score_fixed(np.asarray(rigid_all.apply(y.astype(np.float32))), x) < 0.3
  np.testing.assert_allclose(gdt.gdt_fractions(y, x), [lower] * 4, atol=1e-9)
  # returned superposition achieves the score
  score, rigid = tm_score(y, x, return_superposition=True)
  moved = np.asarray(rigid.apply(y.astype(np.float32)))
  assert tm_score_fixed(moved, x) == pytest.approx(score, abs=1e-4)


def test_gdt_known_perturbation(ubq):
  x, _ = ubq
  n = len(x)
  rng = np.random.default_rng(2)
  y = x.copy()
  directions = rng.normal(size=(n, 3))
  directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
  idx = rng.permutation(n)
  for group, mag in zip(np.split(idx[:40], 4), (1.5, 3., 6., 20.)):
    y[group] += directions[group] * mag
  y = _moved(y, 3)
  expected = np.array([36, 46, 56, 66]) / n  # residues under 1, 2, 4, 8 A
  got = gdt.gdt_fractions(y, x)
  assert (got >= expected - 1e-9).all() and (got <= expected + 3 / n).all(), (got, expected)
  assert gdt.gdt_ts(y, x) == pytest.approx(got.mean())


def test_seed_masks_are_fragments_of_the_aligned_residues():
  mask = np.ones(13, bool)
  mask[[0, 5, 6]] = False
  seeds = superposition_search.seed_masks(mask, max_starts=64)
  assert (seeds <= mask).all()  # never a masked position
  np.testing.assert_array_equal(seeds[0], mask)  # all aligned residues first
  assert sorted(set(seeds[1:].sum(-1))) == [4, 5]  # L/2 = 5, then the minimum 4
  assert len(seeds) == 1 + (10 - 5 + 1) + (10 - 4 + 1)


def test_masks_and_norm_length(ubq):
  x, _ = ubq
  n = len(x)
  rng = np.random.default_rng(4)
  y = _moved(x + rng.normal(size=x.shape), 5)
  mask = np.ones(n, bool)
  mask[::3] = False
  y_garbage = y.copy()
  y_garbage[~mask] = 1e3  # masked positions must not matter
  tm_a = tm_score(y, x, mask)
  assert tm_score(y_garbage, x, mask) == pytest.approx(tm_a, abs=1e-9)
  assert float(rmsd(y_garbage, x, mask)) == pytest.approx(float(rmsd(y, x, mask)),
                                                                abs=1e-3)
  # normalising by the full reference length scales the sum of terms down
  assert tm_score(y, x, mask, norm_length=n) < tm_a
  with pytest.raises(ValueError):
    tm_score(y, x, np.zeros(n, bool))
  with pytest.raises(ValueError):
    gdt.gdt_ts(y[:5], x)
