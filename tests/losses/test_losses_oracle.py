"""Every loss equals alphafold-colabfold's (the oracle) on identical inputs built from a real
protein (crambin) + noise: relative max |delta| <= 1e-5."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax import losses as L

from tests.losses.loss_inputs import oracle_sm_config, oracle_structure_value, rel_err  # noqa: E402
from tests.oracle import requires_oracle  # noqa: E402

pytestmark = requires_oracle

TOL = 1e-5


def _jb(batch):
  return {k: jnp.asarray(v) for k, v in batch.items()}


def _report(name, ours, ref):
  err = rel_err(ours, ref)
  print(f'[oracle] {name}: rel |d| = {err:.2e}  (ours {np.ravel(ours)[:1]}, ref {np.ravel(ref)[:1]})')
  assert np.all(np.isfinite(np.asarray(ours)))
  assert err <= TOL, (name, err)
  return err


@pytest.mark.parametrize('clamp', [10.0, None])
def test_frame_aligned_point_error(clamp):
  from alphafold.model import all_atom, r3
  rng = np.random.default_rng(3)
  f, p = 7, 11
  def rand_frames():
    q = rng.normal(size=(f, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    t = rng.normal(scale=8., size=(f, 3))
    return np.concatenate([q, t], -1).astype(np.float32)
  pf, tf = rand_frames(), rand_frames()
  pp = rng.normal(scale=10., size=(p, 3)).astype(np.float32)
  tp = rng.normal(scale=10., size=(p, 3)).astype(np.float32)
  fm = (rng.random(f) < .8).astype(np.float32)
  pm = (rng.random(p) < .8).astype(np.float32)
  from alphafold_jax.losses._frames import to_rigid
  ours = jax.jit(lambda *a: L.frame_aligned_point_error(
      to_rigid(a[0]), to_rigid(a[1]), *a[2:], length_scale=10., l1_clamp_distance=clamp))(
          pf, tf, fm, pp, tp, pm)
  from alphafold.model import quat_affine
  to_r3 = lambda x: r3.rigids_from_quataffine(quat_affine.QuatAffine.from_tensor(x))
  ref = jax.jit(lambda pf, tf, fm, pp, tp, pm: all_atom.frame_aligned_point_error(
      to_r3(pf), to_r3(tf), fm, r3.vecs_from_tensor(pp), r3.vecs_from_tensor(tp), pm,
      length_scale=10., l1_clamp_distance=clamp))(pf, tf, fm, pp, tp, pm)
  _report(f'frame_aligned_point_error clamp={clamp}', ours, ref)


@pytest.mark.parametrize('clamped', [None, 0.9])
def test_backbone_loss(case, clamped):
  from alphafold.model import folding
  batch = dict(case['batch'])
  if clamped is None:
    del batch['use_clamped_fape']
  value = oracle_structure_value(case)
  ret = {'loss': 0.}
  def ref_fn(batch, value):
    ret = {'loss': 0.}
    folding.backbone_loss(ret, batch, value, oracle_sm_config())
    return ret
  ret = jax.jit(ref_fn)(_jb(batch), value)
  loss, metrics = jax.jit(L.backbone_loss)(case['pred'], batch)
  _report(f'backbone_loss use_clamped_fape={clamped}', loss, ret['loss'])
  _report('backbone fape (last layer)', metrics['fape'], ret['fape'])


def test_renamed_ground_truth_and_sidechain_loss(case):
  from alphafold.model import folding
  batch = _jb(case['batch'])
  value = oracle_structure_value(case)
  ref_ren = jax.jit(folding.compute_renamed_ground_truth)(batch, value['final_atom14_positions'])
  ours_ren = jax.jit(L.compute_renamed_ground_truth)(
      case['batch'], case['pred']['structure_module']['final_atom14_positions'])
  for k in ref_ren:
    np.testing.assert_array_equal(np.asarray(ours_ren[k]), np.asarray(ref_ren[k]), err_msg=k)
  assert np.asarray(ref_ren['alt_naming_is_better']).sum() >= 1  # renaming exercised
  value.update(ref_ren)
  ref = jax.jit(lambda b, v: folding.sidechain_loss(b, v, oracle_sm_config()))(batch, value)
  loss, _ = jax.jit(L.sidechain_loss)(case['pred'], case['batch'])
  _report('sidechain_loss', loss, ref['loss'])


def test_supervised_chi_loss(case):
  from alphafold.model import folding
  def ref_fn(batch, value):
    ret = {'loss': 0.}
    folding.supervised_chi_loss(ret, batch, value, oracle_sm_config())
    return ret
  ret = jax.jit(ref_fn)(_jb(case['batch']), oracle_structure_value(case))
  loss, m = jax.jit(L.supervised_chi_loss)(case['pred'], case['batch'])
  _report('supervised_chi_loss', loss, ret['loss'])
  _report('chi_loss', m['chi_loss'], ret['chi_loss'])
  _report('angle_norm_loss', m['angle_norm_loss'], ret['angle_norm_loss'])
  # Radians input instead of (sin, cos) gives the same loss.
  batch = {k: v for k, v in case['batch'].items() if k != 'chi_angles_sin_cos'}
  _report('supervised_chi_loss (chi_angles)',
          jax.jit(L.supervised_chi_loss)(case['pred'], batch)[0], ret['loss'])


def test_structural_violations(case):
  from alphafold.model import folding
  batch = _jb(case['batch'])
  pos = jnp.asarray(case['pred']['structure_module']['final_atom14_positions'])
  def ref_fn(batch, pos):
    v = folding.find_structural_violations(batch, pos, oracle_sm_config())
    ret = {'loss': 0.}
    folding.structural_violation_loss(ret, batch, {'violations': v}, oracle_sm_config())
    return v, folding.compute_violation_metrics(batch, pos, v), ret['loss']
  def our_fn(batch, pos):
    v = L.find_structural_violations(batch, pos)
    return (v, L.compute_violation_metrics(batch, pos, v),
            L.structural_violation_loss(v, batch['atom14_atom_exists']))
  ref, ref_m, ref_loss = jax.jit(ref_fn)(batch, pos)
  ours, ours_m, our_loss = jax.jit(our_fn)(case['batch'], pos)
  flat_ref = jax.tree_util.tree_leaves_with_path(ref)
  flat_ours = dict(jax.tree_util.tree_leaves_with_path(ours))
  assert len(flat_ref) == len(flat_ours)
  for path, r in flat_ref:
    _report('violations' + jax.tree_util.keystr(path), flat_ours[path], r)
  assert float(ref['between_residues']['clashes_mean_loss']) > 0  # non-trivial input
  assert float(ref['between_residues']['bonds_c_n_loss_mean']) > 0
  for k in ref_m:
    _report(k, ours_m[k], ref_m[k])
  _report('structural_violation_loss', our_loss, ref_loss)


def test_structure_module_loss_total(case):
  """AF2's StructureModule.loss (FAPE bb/sc, chi, violations) vs structure_module_loss."""
  from alphafold.model import config as af_config
  from alphafold.model import folding
  gc = af_config.model_config('model_1_ptm').model.global_config
  def fn(value, batch):
    return folding.StructureModule(oracle_sm_config(1.0), gc).loss(value, batch)
  ref = jax.jit(lambda v, b: hk.transform(fn).apply({}, None, v, b))(
      oracle_structure_value(case), _jb(case['batch']))
  loss, m = jax.jit(lambda p, b: L.structure_module_loss(p, b, L.LossConfig.fine_tuning()))(
      case['pred'], case['batch'])
  _report('StructureModule.loss', loss, ref['loss'])
  _report('sidechain_fape', m['sidechain_fape'], ref['sidechain_fape'])
  for k in ref['metrics']:
    _report(k, m[k], ref['metrics'][k])


def _head_loss(head_name, cls_name, value, batch):
  from alphafold.model import config as af_config
  from alphafold.model import modules
  cfg = af_config.model_config('model_1_ptm').model
  def fn(value, batch):
    return getattr(modules, cls_name)(cfg.heads[head_name], cfg.global_config).loss(value, batch)
  return jax.jit(lambda v, b: hk.transform(fn).apply({}, None, v, b)['loss'])(value, batch)


def test_head_losses(case):
  pred, batch = case['pred'], _jb(case['batch'])
  jp = jax.tree_util.tree_map(jnp.asarray, pred)
  cfg = L.LossConfig()
  ours = jax.jit(lambda p, b: {
      'distogram': L.distogram_loss(p, b, cfg)[0],
      'masked_msa': L.masked_msa_loss(p, b, cfg)[0],
      'predicted_lddt': L.plddt_loss(p, b, cfg)[0],
      'predicted_aligned_error': L.pae_loss(p, b, cfg)[0],
      'experimentally_resolved': L.experimentally_resolved_loss(p, b, cfg)[0]})(
          pred, case['batch'])
  pairs = {
      'distogram': (_head_loss('distogram', 'DistogramHead', jp['distogram'], batch),
                    ours['distogram']),
      'masked_msa': (_head_loss('masked_msa', 'MaskedMsaHead', jp['masked_msa'], batch),
                     ours['masked_msa']),
      'predicted_lddt': (_head_loss('predicted_lddt', 'PredictedLDDTHead', jp, batch),
                         ours['predicted_lddt']),
      'predicted_aligned_error': (
          _head_loss('predicted_aligned_error', 'PredictedAlignedErrorHead', jp, batch),
          ours['predicted_aligned_error']),
      'experimentally_resolved': (
          _head_loss('experimentally_resolved', 'ExperimentallyResolvedHead',
                     jp['experimentally_resolved'], batch),
          ours['experimentally_resolved']),
  }
  for name, (ref, ours) in pairs.items():
    assert float(ref) > 0
    _report(f'{name} head loss', ours, ref)


def test_resolution_filter(case):
  """Outside [0.1, 3.0] A the pLDDT / PAE / experimentally-resolved losses are zero (as AF2)."""
  def all_three(pred, batch, cfg):
    return [fn(pred, batch, cfg)[0]
            for fn in (L.plddt_loss, L.pae_loss, L.experimentally_resolved_loss)]
  filtered = jax.jit(lambda p, b: all_three(p, b, L.LossConfig()))
  unfiltered = jax.jit(lambda p, b: all_three(p, b, L.LossConfig(filter_by_resolution=False)))
  for res in (0.0, 3.5):
    batch = dict(case['batch'], resolution=np.float32(res))
    assert all(float(x) == 0. for x in filtered(case['pred'], batch))
    assert all(float(x) > 0. for x in unfiltered(case['pred'], batch))
  assert all(float(x) > 0. for x in filtered(case['pred'], case['batch']))


def test_lddt_and_ptm(case):
  from alphafold.common import confidence
  from alphafold.model import lddt as af_lddt
  b = case['batch']
  pred_ca = case['pred']['structure_module']['final_atom_positions'][:, 1]
  ours = jax.jit(L.lddt_ca_targets)(pred_ca, b['all_atom_positions'][:, 1],
                                    b['all_atom_mask'][:, 1])
  ref = jax.jit(lambda p, t, m: af_lddt.lddt(p, t, m, per_residue=True))(
      pred_ca[None], b['all_atom_positions'][None, :, 1], b['all_atom_mask'][None, :, 1:2])[0]
  _report('lddt per residue', ours, ref)
  pae = case['pred']['predicted_aligned_error']
  ours = jax.jit(L.predicted_tm_score)(pae['logits'], pae['breaks'], b['seq_mask'])
  ref = confidence.predicted_tm_score(pae['logits'], pae['breaks'], b['seq_mask'])
  _report('pTM', ours, ref)
  _report('expected aligned error',
          jax.jit(L.expected_aligned_error)(pae['logits'], pae['breaks']),
          confidence.compute_predicted_aligned_error(pae['logits'], pae['breaks'])[
              'predicted_aligned_error'])
