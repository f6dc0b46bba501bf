"""AF2-Multimer chain centre-of-mass loss (losses/chain_center_of_mass.py): zero at the true
inter-centre distances, rigid-motion invariance, one-sided margin, masks, gradients.
(DeepMind did not release this loss: no oracle; the expected values are worked out by hand.)

Three chains of 7, 5 and 9 residues + 2 padding residues (asym_id 0).
"""

import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.losses import chain_center_of_mass_loss
from alphafold_jax.geometry.rigid import Rigid

CHAINS = (7, 5, 9)
ASYM = np.concatenate([np.full(n, k + 1) for k, n in enumerate(CHAINS)] + [np.zeros(2)])
N = ASYM.shape[0]


def _rotation(rng):
  q, r = np.linalg.qr(rng.normal(size=(3, 3)))
  q = q * np.sign(np.diag(r))
  return q * np.linalg.det(q)  # proper rotation


def _truth(rng):
  """CA positions: each chain a random blob around its own centre, centres ~25 A apart."""
  centres = rng.normal(scale=15.0, size=(len(CHAINS), 3))
  pos = np.concatenate([c + rng.normal(scale=5.0, size=(n, 3)) for c, n in zip(centres, CHAINS)]
                       + [rng.normal(scale=50.0, size=(2, 3))])
  mask = np.ones(N, np.float32)
  mask[[3, 9]] = 0.0  # unresolved CAs inside chains 1 and 2
  mask[-2:] = 0.0
  return pos.astype(np.float32), mask


def _centre(pos, mask, k):
  sel = (ASYM == k + 1) & (mask > 0)
  return pos[sel].mean(0)


def _loss(pred, true, mask, asym=ASYM):
  return float(jax.jit(chain_center_of_mass_loss)(pred, true, mask, jnp.asarray(asym)))


def test_zero_at_true_centre_distances_and_rigid_invariance():
  rng = np.random.default_rng(0)
  true, mask = _truth(rng)
  # every chain rotated about its own (masked) centre, then one global rigid motion:
  # different coordinates, the same inter-centre distances
  pred = true.copy()
  for k in range(len(CHAINS)):
    sel = ASYM == k + 1
    c = _centre(true, mask, k)
    pred[sel] = (true[sel] - c) @ _rotation(rng).T + c
  pred = pred @ _rotation(rng).T + rng.normal(scale=30.0, size=3)
  pred[-2:] = rng.normal(scale=80.0, size=(2, 3))  # padding moves freely
  assert np.abs(pred - true).max() > 5.0
  assert _loss(pred, true, mask) < 1e-9

  # a prediction with chains too close, and the same after a random rigid motion
  close = true.copy()
  close[ASYM == 2] += (_centre(true, mask, 0) - _centre(true, mask, 1)) * 0.9
  rigid = Rigid(rot=jnp.asarray(_rotation(rng), jnp.float32),
                trans=jnp.asarray(rng.normal(scale=40.0, size=3), jnp.float32))
  moved = np.asarray(rigid.apply(jnp.asarray(close)))
  before, after = _loss(close, true, mask), _loss(moved, true, mask)
  assert before > 1e-3
  np.testing.assert_allclose(after, before, rtol=1e-5)


def test_one_sided_margin_and_value():
  """Two chains: pushed together by 10 A -> 2 ordered pairs of ((-10 + 4) / 20)^2 over 2^2
  pairs = 0.045; by 3 A (within the 4 A margin) or pulled apart by any amount -> 0."""
  rng = np.random.default_rng(1)
  asym = np.array([1] * 6 + [2] * 8, np.float32)
  true = np.concatenate([rng.normal(scale=3, size=(6, 3)),
                         rng.normal(scale=3, size=(8, 3)) + [30.0, 0, 0]]).astype(np.float32)
  mask = np.ones(14, np.float32)
  axis = true[asym == 2].mean(0) - true[asym == 1].mean(0)
  axis /= np.linalg.norm(axis)

  def moved(delta):  # chain B moved along the centre-centre axis
    out = true.copy()
    out[asym == 2] += delta * axis
    return out

  np.testing.assert_allclose(_loss(moved(-10.0), true, mask, asym), 0.045, rtol=1e-4)
  np.testing.assert_allclose(_loss(moved(-6.0), true, mask, asym), 2 * 0.01 / 4, rtol=1e-4)
  assert _loss(moved(-3.0), true, mask, asym) == 0.0
  assert _loss(moved(15.0), true, mask, asym) == 0.0
  assert _loss(moved(200.0), true, mask, asym) == 0.0
  # atom37 input: the CA slot (1) is read
  pos37 = np.zeros((14, 37, 3), np.float32)
  pos37[:, 1] = moved(-10.0)
  true37 = np.zeros((14, 37, 3), np.float32)
  true37[:, 1] = true
  mask37 = np.zeros((14, 37), np.float32)
  mask37[:, 1] = 1.0
  np.testing.assert_allclose(_loss(pos37, true37, mask37, asym), 0.045, rtol=1e-4)


def test_masks_padding_and_single_chain():
  rng = np.random.default_rng(2)
  true, mask = _truth(rng)
  pred = true.copy()
  pred[ASYM == 3] = true[ASYM == 3] - _centre(true, mask, 2) + _centre(true, mask, 0)
  base = _loss(pred, true, mask)
  assert base > 0
  moved_masked = pred.copy()
  moved_masked[[3, 9, N - 2, N - 1]] += 100.0  # unresolved CAs and padding do not count
  np.testing.assert_allclose(_loss(moved_masked, true, mask), base, rtol=1e-6)
  one_chain = np.where(ASYM > 0, 1.0, 0.0)
  assert _loss(pred, true, mask, one_chain) == 0.0


def test_finite_gradients_also_for_coincident_centres():
  rng = np.random.default_rng(3)
  true, mask = _truth(rng)
  grad_fn = jax.jit(jax.grad(lambda p: chain_center_of_mass_loss(p, true, mask,
                                                                 jnp.asarray(ASYM))))
  collapsed = true.copy()
  for k in range(len(CHAINS)):  # every chain centred on the origin
    collapsed[ASYM == k + 1] -= _centre(true, mask, k)
  assert _loss(collapsed, true, mask) > 0
  noisy = collapsed * 0.5 + rng.normal(scale=1.0, size=true.shape).astype(np.float32)
  for pred in (collapsed, noisy):
    g = np.asarray(grad_fn(jnp.asarray(pred)))
    assert np.all(np.isfinite(g))
    assert np.all(g[mask == 0] == 0.0)
  assert np.abs(g).max() > 1e-4  # chains overlapping by more than the margin are pushed apart
