"""Properties of the losses: FAPE zero for a perfect prediction, invariance of FAPE / lDDT /
PAE targets under a global rigid motion, finite values and gradients on degenerate inputs,
jit + vmap with masks, padding invariance, weights applied, clear errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax import losses as L
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.losses._frames import to_rigid
from alphafold_jax.losses._keys import MissingInputError
from tests.losses.loss_inputs import build_case
from tests.oracle import requires_oracle

pytestmark = requires_oracle

FT = L.LossConfig.fine_tuning()   # every term switched on


def _random_rigid(seed):
  rng = np.random.default_rng(seed)
  q = rng.normal(size=4)
  q /= np.linalg.norm(q)
  return to_rigid(np.concatenate([q, rng.normal(scale=20., size=3)]).astype(np.float32))


def _move_prediction(pred, g: Rigid):
  """Apply the global rigid motion g to every predicted frame and position."""
  sm = pred['structure_module']
  traj = to_rigid(sm['traj'])
  moved_traj = g @ traj
  sc = sm['sidechains']
  frames = g @ to_rigid(sc['frames'])
  new_sm = dict(sm, traj=moved_traj, final_affines=moved_traj[-1],
                final_atom14_positions=g.apply(sm['final_atom14_positions']),
                final_atom_positions=g.apply(sm['final_atom_positions']),
                sidechains=dict(sc, frames=frames, atom_pos=g.apply(sc['atom_pos'])))
  return dict(pred, structure_module=new_sm)


def _perfect_prediction(case):
  b = case['batch']
  sm = case['pred']['structure_module']
  k = to_rigid(sm['traj']).shape[0]
  bb = to_rigid(b['backbone_affine_tensor'])
  traj = bb.map(lambda x: jnp.broadcast_to(x, (k,) + x.shape))
  gt = to_rigid(b['rigidgroups_gt_frames'])
  return dict(case['pred'], structure_module=dict(
      sm, traj=traj, final_affines=bb,
      sidechains=dict(sm['sidechains'], frames=gt.map(lambda x: x[None]),
                      atom_pos=jnp.asarray(b['atom14_gt_positions'])[None]),
      final_atom14_positions=b['atom14_gt_positions']))


def test_fape_zero_for_perfect_prediction(case):
  pred = _perfect_prediction(case)
  fn = jax.jit(lambda p, b, c: (L.backbone_loss(p, b, c)[0], L.sidechain_loss(p, b, c)[0]),
               static_argnums=2)
  config = L.LossConfig(fape_epsilon=1e-12)
  bb, sc = fn(pred, case['batch'], config)
  assert 0. < float(bb) < 1e-5 and 0. <= float(sc) < 1e-5   # sqrt(eps)/Z = 1e-7 floor
  noisy = fn(case['pred'], case['batch'], config)
  assert min(float(x) for x in noisy) > 0.05


def test_invariance_under_global_rigid_motion(case):
  """FAPE, lDDT targets and aligned-error targets do not change when the prediction moves."""
  def targets(pred, batch):
    bb = L.backbone_loss(pred, batch)[0]
    sc = L.sidechain_loss(pred, batch)[0]
    sm = pred['structure_module']
    lddt = L.lddt_ca_targets(sm['final_atom_positions'][:, 1],
                             batch['all_atom_positions'][:, 1], batch['all_atom_mask'][:, 1])
    from alphafold_jax.losses.pae import aligned_error_squared, predicted_final_frames
    from alphafold_jax.losses.fape import backbone_target
    ae = aligned_error_squared(predicted_final_frames(pred), backbone_target(batch)[0])
    return bb, sc, lddt, ae
  fn = jax.jit(targets)
  ref = fn(case['pred'], case['batch'])
  for seed in (1, 2):
    moved = fn(_move_prediction(case['pred'], _random_rigid(seed)), case['batch'])
    for r, m in zip(ref, moved):
      np.testing.assert_allclose(np.asarray(m), np.asarray(r), rtol=2e-4, atol=2e-4)
  # ... while moving only some residues does change them.
  pred = case['pred']
  sm = pred['structure_module']
  shifted = dict(pred, structure_module=dict(sm, final_atom_positions=np.asarray(
      sm['final_atom_positions']) + np.arange(case['n'])[:, None, None] * 0.5))
  assert not np.allclose(fn(shifted, case['batch'])[2], ref[2])


def _assert_finite(value, grads, what):
  assert np.isfinite(float(value)), (what, value)
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    assert np.all(np.isfinite(np.asarray(g))), (what, jax.tree_util.keystr(path))


def _canonical(pred, batch):
  """Same pytree structure/dtypes for every variant (so one compiled function serves all)."""
  sm = pred['structure_module']
  traj = to_rigid(sm['traj'])
  sc = sm['sidechains']
  sm = dict(sm, traj=traj, final_affines=traj[-1],
            sidechains=dict(sc, frames=to_rigid(sc['frames'])))
  pred = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), dict(pred, structure_module=sm))
  batch = dict(batch, backbone_affine_tensor=np.asarray(
      to_rigid(batch['backbone_affine_tensor']).to_tensor_flat12()))
  return pred, batch


def _degenerate(case, kind):
  pred, batch = _canonical(case['pred'], dict(case['batch']))
  sm = dict(pred['structure_module'])
  n = case['n']
  zeros = jnp.zeros_like
  if kind == 'coincident':
    # All predicted atoms and frame origins on one point; targets coincide too.
    sm['traj'] = Rigid(sm['traj'].rot, zeros(sm['traj'].trans))
    sm['final_affines'] = sm['traj'][-1]
    for k in ('final_atom14_positions', 'final_atom_positions'):
      sm[k] = zeros(sm[k])
    fr = sm['sidechains']['frames']
    sm['sidechains'] = dict(sm['sidechains'], atom_pos=zeros(sm['sidechains']['atom_pos']),
                            frames=Rigid(fr.rot, zeros(fr.trans)))
    for k in ('atom14_gt_positions', 'atom14_alt_gt_positions', 'all_atom_positions',
              'pseudo_beta'):
      batch[k] = np.zeros_like(batch[k])
  elif kind == 'collinear':
    # Every atom on one line: frames by Gram-Schmidt of collinear points, both sides.
    t = np.linspace(0., 5., n * 14, dtype=np.float32).reshape(n, 14, 1)
    line = t * np.array([1., 2., 3.], np.float32)                          # [N, 14, 3]
    coll = Rigid.from_three_points(jnp.asarray(line[:, 2]), jnp.asarray(line[:, 1]),
                                   jnp.asarray(line[:, 0]))               # [N]
    k = sm['traj'].shape[0]
    sm['traj'] = coll.map(lambda x: jnp.broadcast_to(x, (k,) + x.shape))
    sm['final_affines'] = coll
    sm['final_atom14_positions'] = jnp.asarray(line)
    sm['sidechains'] = dict(
        sm['sidechains'], atom_pos=jnp.broadcast_to(jnp.asarray(line), (k, n, 14, 3)),
        frames=coll.map(lambda x: jnp.broadcast_to(x[None, :, None], (k, n, 8) + x.shape[1:])))
    batch['backbone_affine_tensor'] = np.asarray(coll.to_tensor_flat12())
    batch['atom14_gt_positions'] = batch['atom14_alt_gt_positions'] = line
  elif kind == 'all_masked':
    for k, v in batch.items():
      if 'mask' in k or 'exists' in k:
        batch[k] = np.zeros_like(v)
  pred['structure_module'] = sm
  return pred, batch


def _value_and_grad(pred, batch):
  return jax.value_and_grad(lambda p: L.alphafold_loss(p, batch, FT)[0])(pred)


def test_degenerate_inputs_finite_values_and_grads(data_dir):
  """Coincident atoms, collinear backbone, everything masked and a single real residue
  (padded to the same length): finite loss and gradients, one vmapped compile."""
  case = build_case(data_dir, seed=4, n_real=5, n_pad=2)
  one = build_case(data_dir, seed=8, n_real=1, n_pad=6)
  kinds = ('coincident', 'collinear', 'all_masked')
  variants = [_degenerate(case, k) for k in kinds] + [_canonical(one['pred'], one['batch'])]
  stacked = jax.tree_util.tree_map(lambda *x: jnp.stack([jnp.asarray(y) for y in x]), *variants)
  values, grads = jax.jit(jax.vmap(_value_and_grad))(*stacked)
  for i, kind in enumerate(kinds + ('one residue',)):
    _assert_finite(values[i], jax.tree_util.tree_map(lambda g: g[i], grads), kind)
  # Nothing to score when all is masked: every term vanishes but the FAPE eps floor.
  assert float(values[2]) < 1e-3 + 1e-6
  assert float(values[0]) > 0. and float(values[1]) > 0. and float(values[3]) > 0.


def test_single_residue_arrays(data_dir):
  """N = 1 exactly (empty peptide-bond arrays): structure losses and their gradients finite."""
  case = build_case(data_dir, seed=9, n_real=1, n_pad=0)
  pred, batch = _canonical(case['pred'], case['batch'])
  def f(p):
    bb = L.backbone_loss(p, batch)[0]
    sc = L.sidechain_loss(p, batch)[0]
    viol, metrics = L.violation_loss(p, batch, FT)
    return bb + sc + viol, metrics
  (value, metrics), grads = jax.jit(jax.value_and_grad(f, has_aux=True))(pred)
  _assert_finite(value, grads, 'N = 1')
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert float(metrics['violations_between_residue_bond']) == 0.


_TOTAL_FT = jax.jit(lambda p, b: L.alphafold_loss(p, b, FT))


def test_jit_and_vmap_with_masks(data_dir):
  """vmap over a batch of two examples (different masks) equals a Python loop, under jit."""
  a = build_case(data_dir, seed=5, n_real=9, n_pad=6)
  b = build_case(data_dir, seed=6, n_real=13, n_pad=2)
  stack = lambda x, y: np.stack([np.asarray(x), np.asarray(y)])
  preds = jax.tree_util.tree_map(stack, a['pred'], b['pred'])
  batches = jax.tree_util.tree_map(stack, a['batch'], b['batch'])
  vm_loss, vm_metrics = jax.jit(jax.vmap(lambda p, bt: L.alphafold_loss(p, bt, FT)))(
      preds, batches)
  for i, c in enumerate((a, b)):
    loss, metrics = _TOTAL_FT(c['pred'], c['batch'])
    np.testing.assert_allclose(vm_loss[i], loss, rtol=1e-5)
    for k in metrics:
      np.testing.assert_allclose(vm_metrics[k][i], metrics[k], rtol=1e-5, atol=1e-6, err_msg=k)
  assert abs(float(vm_loss[0]) - float(vm_loss[1])) > 1e-3


def _pad_residues(tree, n, extra, rng, fill_random):
  """Pad every axis of length n by `extra` (zeros in labels, noise in predictions)."""
  def pad(x):
    x = np.asarray(x)
    for ax in [i for i, s in enumerate(x.shape) if s == n]:
      shape = list(x.shape)
      shape[ax] = extra
      filler = (rng.normal(size=shape).astype(x.dtype) if fill_random
                and np.issubdtype(x.dtype, np.floating) else np.zeros(shape, x.dtype))
      x = np.concatenate([x, filler], axis=ax)
    return x
  return jax.tree_util.tree_map(pad, tree)


def test_padding_invariance(data_dir):
  case = build_case(data_dir, seed=7, n_real=11, n_pad=0)
  rng = np.random.default_rng(0)
  n = case['n']
  pred_p = _pad_residues(case['pred'], n, 4, rng, fill_random=True)
  # Keep unit quaternions / rotations in the padded frames.
  pred_p['structure_module']['traj'][..., n:, :4] = [1., 0., 0., 0.]
  pred_p['structure_module']['final_affines'][n:, :4] = [1., 0., 0., 0.]
  batch_p = _pad_residues(case['batch'], n, 4, rng, fill_random=False)
  loss, metrics = _TOTAL_FT(case['pred'], case['batch'])
  loss_p, metrics_p = _TOTAL_FT(pred_p, batch_p)
  np.testing.assert_allclose(loss_p, loss, rtol=1e-5)
  for k in metrics:
    if k != 'fape_per_layer':
      np.testing.assert_allclose(metrics_p[k], metrics[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_total_loss_applies_weights(case):
  base_loss, m = _TOTAL_FT(case['pred'], case['batch'])
  expected = (m['structure_module_loss'] + 0.3 * m['distogram_loss']
              + 2.0 * m['masked_msa_loss'] + 0.01 * m['plddt_loss'] + 0.1 * m['pae_loss']
              + 0.01 * m['experimentally_resolved_loss'])
  np.testing.assert_allclose(base_loss, expected, rtol=1e-6)
  sm_expected = (0.5 * m['fape_per_layer'].mean() + 0.5 * m['sidechain_fape']
                 + 0.5 * m['chi_loss'] + 0.01 * m['angle_norm_loss'] + m['violation_loss'])
  np.testing.assert_allclose(m['structure_module_loss'], sm_expected, rtol=1e-6)
  # Initial-training defaults drop the violation term; heads with weight 0 need no inputs.
  pred = {'structure_module': case['pred']['structure_module']}
  only_sm = L.LossConfig(distogram_weight=0., masked_msa_weight=0., plddt_weight=0.,
                         pae_weight=0., structure_module_weight=2.)
  loss, mi = jax.jit(lambda p, b: L.alphafold_loss(p, b, only_sm))(pred, case['batch'])
  np.testing.assert_allclose(mi['structure_module_loss'],
                             m['structure_module_loss'] - m['violation_loss'], rtol=1e-5)
  np.testing.assert_allclose(loss, 2. * mi['structure_module_loss'], rtol=1e-6)
  assert set(mi) & {'distogram_loss', 'pae_loss', 'experimentally_resolved_loss'} == set()


def test_clamped_fape_has_zero_gradient_beyond_clamp(case):
  """Clamped backbone FAPE: points moved far away contribute no gradient; unclamped does."""
  pred = _perfect_prediction(case)
  traj = pred['structure_module']['traj']
  far = Rigid(traj.rot, traj.trans.at[:, 0].add(100.))   # residue 0 far off (every layer)
  pred = dict(pred, structure_module=dict(pred['structure_module'], traj=far))
  def g(frac):
    batch = dict(case['batch'], use_clamped_fape=frac)
    return jax.grad(lambda t: L.backbone_loss(dict(pred, structure_module=dict(
        pred['structure_module'], traj=Rigid(far.rot, t))), batch)[0])(far.trans)
  g = jax.jit(g)
  g_clamped, g_unclamped = g(jnp.float32(1.)), g(jnp.float32(0.))
  assert np.abs(np.asarray(g_clamped)[:, 0]).max() < 1e-8
  assert np.abs(np.asarray(g_unclamped)[:, 0]).max() > 1e-4


def test_ca_chirality_metric(case):
  b = case['batch']
  exists = b['atom14_atom_exists'] * b['atom14_gt_exists']
  vol, mask = jax.jit(L.ca_chirality)(b['atom14_gt_positions'], exists)
  assert mask.sum() >= 5 and np.all(np.asarray(vol)[np.asarray(mask) > 0] > 0)  # L-amino acids
  def metric(pos):
    v = L.find_structural_violations(b, pos)
    m = L.compute_violation_metrics(b, pos, v)
    return m, L.structural_violation_loss(v, b['atom14_atom_exists'])
  metric = jax.jit(metric)
  m, viol = metric(b['atom14_gt_positions'])
  # The crystal structure itself: L-chirality everywhere, no violation at all.
  assert float(m['violations_ca_chirality']) == 0.
  assert float(m['violations_per_residue']) == 0. and float(viol) == 0.
  mirrored = b['atom14_gt_positions'] * np.array([-1., 1., 1.], np.float32)
  m, viol = metric(mirrored)
  assert float(m['violations_ca_chirality']) == 1.
  assert float(m['violations_per_residue']) == 0. and float(viol) == 0.  # mirror-blind checks


def test_clear_errors(case):
  with pytest.raises(TypeError):
    L.LossConfig(not_a_field=1.)
  with pytest.raises(ValueError, match='distogram_weight'):
    L.LossConfig(distogram_weight=-1.)
  with pytest.raises(ValueError, match='sidechain_weight_frac'):
    L.LossConfig(sidechain_weight_frac=1.5)
  batch = {k: v for k, v in case['batch'].items() if k != 'pseudo_beta'}
  with pytest.raises(MissingInputError, match="batch\\['pseudo_beta'\\]"):
    L.distogram_loss(case['pred'], batch, L.LossConfig())
  with pytest.raises(MissingInputError, match="'distogram', 'masked_msa'"):
    L.alphafold_loss({'structure_module': case['pred']['structure_module']}, case['batch'])
  with pytest.raises(ValueError, match='frames must be'):
    L.backbone_loss({'structure_module': {'traj': np.zeros((3, 5, 6))}}, case['batch'])
  assert dataclasses.is_dataclass(L.LossConfig) and L.LossConfig().pae_weight == 0.1


def test_peptide_geometry_weight_adds_its_term_to_the_structure_module_loss(case):
  """LossConfig.peptide_geometry_weight (losses/peptide_geometry.py, not in AF2)."""
  base = L.LossConfig(compute_violation_metrics=False)
  off, _ = L.structure_module_loss(case['pred'], case['batch'], base)
  on, metrics = L.structure_module_loss(case['pred'], case['batch'],
                                        base.replace(peptide_geometry_weight=2.0))
  assert float(metrics['peptide_geometry_loss']) > 0.01
  assert float(on) - float(off) == pytest.approx(2.0 * float(metrics['peptide_geometry_loss']),
                                                 rel=1e-4)
