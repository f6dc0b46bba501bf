"""lDDT equals AF2's `alphafold.model.lddt.lddt` on perturbed real structures."""

import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.common import protein
from alphafold_jax.metrics import lddt as lddt_pkg_fn
from alphafold_jax.metrics.lddt import lddt, lddt_ca
from tests.oracle import requires_oracle

pytestmark = requires_oracle


def _ca_and_mask(data_dir, name):
  p = protein.from_file(data_dir / name)
  return p.atom_positions[:, 1].astype(np.float32), p.atom_mask[:, 1].astype(np.float32), p


def test_lddt_matches_oracle_on_perturbed_structures(data_dir):
  from alphafold.model import lddt as oracle  # oracle, test-only
  rng = np.random.default_rng(0)
  for name, sigma in [('structures/nano/1UBQ.pdb', 0.7), ('structures/extra/1BPI.pdb', 2.5)]:
    ref, mask, _ = _ca_and_mask(data_dir, name)
    n = ref.shape[0]
    mask = mask.copy()
    mask[rng.choice(n, 5, replace=False)] = 0.  # missing residues
    # batch of 3 perturbations; padding of 7 residues with garbage coordinates
    pad = 7
    pred = ref[None] + rng.normal(size=(3, n, 3)).astype(np.float32) * sigma * np.array(
        [0.3, 1., 2.], np.float32)[:, None, None]
    pred = np.concatenate([pred, rng.normal(size=(3, pad, 3)).astype(np.float32) * 50], 1)
    true = np.concatenate([np.broadcast_to(ref, (3, n, 3)),
                           rng.normal(size=(3, pad, 3)).astype(np.float32)], 1)
    m = np.concatenate([np.broadcast_to(mask, (3, n)), np.zeros((3, pad), np.float32)], 1)
    for per_residue in (False, True):
      ours = np.asarray(lddt(pred, true, m, per_residue=per_residue))
      theirs = np.asarray(oracle.lddt(jnp.asarray(pred), jnp.asarray(true),
                                      jnp.asarray(m[..., None]), per_residue=per_residue))
      np.testing.assert_allclose(ours, theirs, atol=1e-6)
    glob = np.asarray(lddt(pred, true, m))
    assert glob.shape == (3,) and (np.diff(glob) < 0).all(), glob  # more noise, lower lDDT
    # padding does not change the score at real positions
    unpadded = np.asarray(lddt(pred[:, :n], true[:, :n], m[:, :n]))
    np.testing.assert_allclose(glob, unpadded, atol=1e-6)


def test_lddt_by_hand_and_invariances():
  rng = np.random.default_rng(1)
  ref = rng.uniform(0., 12., size=(11, 3)).astype(np.float32)
  pred = ref + rng.normal(size=ref.shape).astype(np.float32) * 1.5
  # brute-force definition
  d_ref = np.linalg.norm(ref[:, None] - ref[None], axis=-1)
  d_pred = np.linalg.norm(pred[:, None] - pred[None], axis=-1)
  sel = (d_ref < 15.) & ~np.eye(11, dtype=bool)
  err = np.abs(d_ref - d_pred)
  frac = np.mean([err < t for t in (0.5, 1., 2., 4.)], axis=0)
  want = frac[sel].mean()
  got = float(lddt(pred, ref))
  np.testing.assert_allclose(got, want, atol=1e-5)
  per_res = np.asarray(lddt(pred, ref, per_residue=True))
  np.testing.assert_allclose(per_res, [frac[i][sel[i]].mean() for i in range(11)], atol=1e-5)
  # superposition-free: invariant to a rigid motion of the prediction, 1 for identity
  rot = np.linalg.qr(rng.normal(size=(3, 3)))[0].astype(np.float32)
  np.testing.assert_allclose(float(lddt(pred @ rot.T + 3., ref)), got, atol=1e-5)
  np.testing.assert_allclose(float(lddt(ref, ref)), 1., atol=1e-6)
  # a smaller inclusion radius selects fewer pairs and changes the value
  assert abs(float(lddt(pred, ref, cutoff=6.)) - got) > 1e-4


def test_package_exports_the_function():
  assert lddt_pkg_fn is lddt


def test_lddt_ca_from_atom37_and_grad_finite(data_dir):
  _, _, p = _ca_and_mask(data_dir, 'structures/nano/1VII.pdb')
  pos = p.atom_positions.astype(np.float32)
  noisy = pos + np.random.default_rng(2).normal(size=pos.shape).astype(np.float32)
  a = float(lddt_ca(noisy, pos, p.atom_mask))
  b = float(lddt(noisy[:, 1], pos[:, 1], p.atom_mask[:, 1]))
  assert a == b and 0. < a < 1.
  g = jax.grad(lambda x: lddt(x, jnp.asarray(pos[:, 1])))(jnp.asarray(pos[:, 1]))
  assert np.isfinite(np.asarray(g)).all()
