"""Inputs for the loss tests: labels from a real protein (crambin), predictions = labels +
noise, in both our layout and the oracle's (alphafold-colabfold) layout.

The oracle is used here ONLY to build reference labels (atom37_to_frames, torsions); every
loss test compares our functions with the oracle's on these identical inputs.
"""

import numpy as np

N_LAYERS = 3      # structure-module layers in the fake trajectory
N_MSA = 5         # MSA rows
N_REAL = 13       # residues cropped from crambin (17-29 RLPGTPEALCATY: PRO, CYS, ambiguous GLU/TYR)


def _random_rotations(rng, shape, scale):
  """Random rotation matrices near identity (axis-angle with angle ~ scale)."""
  axis = rng.normal(size=shape + (3,))
  axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
  ang = scale * rng.normal(size=shape)[..., None, None]
  k = np.zeros(shape + (3, 3))
  k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
  k = k - np.swapaxes(k, -1, -2)
  return np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * (k @ k)


def _rot_to_quat(rot):
  import jax
  from alphafold.model import quat_affine
  fn = jax.jit(lambda r: quat_affine.rot_to_quat([[r[..., i, j] for j in range(3)]
                                                  for i in range(3)]))
  q = np.asarray(fn(np.asarray(rot, np.float32)))
  return q / np.linalg.norm(q, axis=-1, keepdims=True)


def build_case(data_dir, seed=0, n_real=N_REAL, n_pad=2, start=16, pos_noise=0.5):
  """Returns dict(batch=..., pred=... (ours), oracle_value=... (AF2 layout))."""
  import jax
  from alphafold.common import protein as af_protein
  from alphafold.common import residue_constants as af_rc
  from alphafold.model import all_atom, modules, r3

  rng = np.random.default_rng(seed)
  prot = af_protein.from_pdb_string((data_dir / 'structures/nano/1CRN.pdb').read_text())
  sl = slice(start, start + n_real)
  aatype = prot.aatype[sl].astype(np.int32)
  pos37 = prot.atom_positions[sl].astype(np.float32)
  mask37 = prot.atom_mask[sl].astype(np.float32)
  resid = prot.residue_index[sl].astype(np.int32)
  if n_pad:
    aatype = np.concatenate([aatype, np.zeros(n_pad, np.int32)])
    pos37 = np.concatenate([pos37, np.zeros((n_pad, 37, 3), np.float32)])
    mask37 = np.concatenate([mask37, np.zeros((n_pad, 37), np.float32)])
    resid = np.concatenate([resid, np.zeros(n_pad, np.int32)])
  n = aatype.shape[0]
  seq_mask = np.concatenate([np.ones(n_real), np.zeros(n_pad)]).astype(np.float32)

  # atom14 labels.
  a14_to_37, a14_mask = [], []
  for rt in af_rc.restypes:
    names = af_rc.restype_name_to_atom14_names[af_rc.restype_1to3[rt]]
    a14_to_37.append([af_rc.atom_order[x] if x else 0 for x in names])
    a14_mask.append([1. if x else 0. for x in names])
  a14_to_37.append([0] * 14)
  a14_mask.append([0.] * 14)
  a14_to_37, a14_mask = np.array(a14_to_37), np.array(a14_mask, np.float32)
  residx14 = a14_to_37[aatype]
  exists14 = a14_mask[aatype] * seq_mask[:, None]
  gt_exists14 = np.take_along_axis(mask37, residx14, 1) * exists14
  gt_pos14 = np.take_along_axis(pos37, residx14[..., None], 1) * gt_exists14[..., None]
  ren = np.asarray(all_atom.RENAMING_MATRICES)[aatype]               # [N, 14, 14]
  alt_pos14 = np.einsum('nic,nij->njc', gt_pos14, ren)
  alt_mask = np.einsum('ni,nij->nj', gt_exists14, ren)
  ambiguous = np.zeros((21, 14), np.float32)
  for resname, swap in af_rc.residue_atom_renaming_swaps.items():
    for a in swap:
      ambiguous[af_rc.restype_order[af_rc.restype_3to1[resname]],
                af_rc.restype_name_to_atom14_names[resname].index(a)] = 1.
  frames = jax.jit(all_atom.atom37_to_frames)(aatype, pos37, mask37)
  tors = jax.jit(all_atom.atom37_to_torsion_angles)(aatype[None], pos37[None], mask37[None])
  chi_sc = np.asarray(tors['torsion_angles_sin_cos'][0, :, 3:])
  chi_mask = np.asarray(tors['torsion_angles_mask'][0, :, 3:])
  pb, pb_mask = jax.jit(modules.pseudo_beta_fn)(aatype, pos37, mask37)
  gt12 = np.asarray(frames['rigidgroups_gt_frames'])                 # [N, 8, 12]
  bb_rot = gt12[:, 0, :9].reshape(n, 3, 3)
  bb_rot = np.where(np.linalg.det(bb_rot)[:, None, None] > 0.5, bb_rot, np.eye(3))
  bb_tensor = np.concatenate([_rot_to_quat(bb_rot), gt12[:, 0, 9:]], -1).astype(np.float32)
  bb_mask = np.asarray(frames['rigidgroups_gt_exists'])[:, 0]

  batch = dict(
      aatype=aatype, residue_index=resid, seq_mask=seq_mask,
      all_atom_positions=pos37, all_atom_mask=mask37,
      atom37_atom_exists=af_rc.STANDARD_ATOM_MASK[aatype].astype(np.float32) * seq_mask[:, None],
      atom14_atom_exists=exists14.astype(np.float32), residx_atom14_to_atom37=residx14.astype(np.int32),
      atom14_gt_positions=gt_pos14.astype(np.float32), atom14_gt_exists=gt_exists14.astype(np.float32),
      atom14_alt_gt_positions=alt_pos14.astype(np.float32),
      atom14_alt_gt_exists=np.asarray(alt_mask, np.float32),
      atom14_atom_is_ambiguous=ambiguous[aatype] * seq_mask[:, None],
      rigidgroups_gt_frames=gt12.astype(np.float32),
      rigidgroups_alt_gt_frames=np.asarray(frames['rigidgroups_alt_gt_frames'], np.float32),
      rigidgroups_gt_exists=np.asarray(frames['rigidgroups_gt_exists'], np.float32),
      backbone_affine_tensor=bb_tensor, backbone_affine_mask=bb_mask.astype(np.float32),
      chi_angles_sin_cos=chi_sc.astype(np.float32),
      chi_angles=np.arctan2(chi_sc[..., 0], chi_sc[..., 1]).astype(np.float32),
      chi_mask=chi_mask.astype(np.float32),
      pseudo_beta=np.asarray(pb, np.float32), pseudo_beta_mask=np.asarray(pb_mask, np.float32),
      resolution=np.float32(1.5),
      true_msa=rng.integers(0, 22, size=(N_MSA, n)).astype(np.int32),
      bert_mask=(rng.random((N_MSA, n)) < 0.3).astype(np.float32) * seq_mask,
      use_clamped_fape=np.float32(0.9),
  )

  # ---- predictions: labels + noise ------------------------------------------------------
  K = N_LAYERS
  bb_rot_pred = _random_rotations(rng, (K, n), 0.3) @ bb_rot                 # [K, N, 3, 3]
  bb_trans_pred = gt12[None, :, 0, 9:] + rng.normal(scale=3.0, size=(K, n, 3))
  traj = np.concatenate([_rot_to_quat(bb_rot_pred), bb_trans_pred], -1).astype(np.float32)
  sc_rot = _random_rotations(rng, (K, n, 8), 0.3) @ gt12[..., :9].reshape(n, 8, 3, 3)
  sc_trans = gt12[None, ..., 9:] + rng.normal(scale=1.0, size=(K, n, 8, 3))
  sc_frames12 = np.concatenate([sc_rot.reshape(K, n, 8, 9), sc_trans], -1).astype(np.float32)
  # Predictions follow the ALTERNATIVE naming for some residues so renaming is exercised.
  use_alt = rng.random(n) < 0.7
  base14 = np.where(use_alt[:, None, None], alt_pos14, gt_pos14)
  atom_pos = (base14[None] + rng.normal(scale=pos_noise, size=(K, n, 14, 3))).astype(np.float32)
  unnorm = rng.normal(size=(K, n, 7, 2)).astype(np.float32)
  angles = unnorm / np.linalg.norm(unnorm, axis=-1, keepdims=True)
  atom37_pred = np.take_along_axis(atom_pos[-1], np.asarray(
      [[af_rc.restype_name_to_atom14_names[af_rc.restype_1to3.get(af_rc.restypes[a], 'UNK')].index(
          name) if name in af_rc.restype_name_to_atom14_names[af_rc.restype_1to3[af_rc.restypes[a]]]
        else 0 for name in af_rc.atom_types] for a in aatype])[..., None], 1)
  atom37_pred = (atom37_pred * batch['atom37_atom_exists'][..., None]).astype(np.float32)
  heads = dict(
      distogram=dict(logits=rng.normal(size=(n, n, 64)).astype(np.float32),
                     bin_edges=np.linspace(2.3125, 21.6875, 63).astype(np.float32)),
      masked_msa=dict(logits=rng.normal(size=(N_MSA, n, 23)).astype(np.float32)),
      predicted_lddt=dict(logits=rng.normal(size=(n, 50)).astype(np.float32)),
      predicted_aligned_error=dict(logits=rng.normal(size=(n, n, 64)).astype(np.float32),
                                   breaks=np.linspace(0., 31., 63).astype(np.float32)),
      experimentally_resolved=dict(logits=rng.normal(size=(n, 37)).astype(np.float32)),
  )
  sm = dict(traj=traj, final_affines=traj[-1],
            sidechains=dict(frames=sc_frames12, atom_pos=atom_pos, angles_sin_cos=angles,
                            unnormalized_angles_sin_cos=unnorm),
            final_atom14_positions=atom_pos[-1], final_atom_positions=atom37_pred)
  pred = dict(structure_module=sm, **heads)
  return dict(batch=batch, pred=pred, n=n, n_real=n_real)


def oracle_structure_value(case):
  """The structure-module `value` dict in the oracle's r3 layout."""
  import jax.numpy as jnp
  from alphafold.model import r3
  sm = case['pred']['structure_module']
  sc = sm['sidechains']
  return dict(
      traj=jnp.asarray(sm['traj']), final_affines=jnp.asarray(sm['final_affines']),
      final_atom14_positions=jnp.asarray(sm['final_atom14_positions']),
      final_atom_positions=jnp.asarray(sm['final_atom_positions']),
      sidechains=dict(
          frames=r3.rigids_from_tensor_flat12(jnp.asarray(sc['frames'])),
          atom_pos=r3.vecs_from_tensor(jnp.asarray(sc['atom_pos'])),
          angles_sin_cos=jnp.asarray(sc['angles_sin_cos']),
          unnormalized_angles_sin_cos=jnp.asarray(sc['unnormalized_angles_sin_cos'])))


def oracle_sm_config(violation_weight=1.0):
  from alphafold.model import config as af_config
  c = af_config.model_config('model_1_ptm').model.heads.structure_module
  c.structural_violation_loss_weight = violation_weight
  return c


def rel_err(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))
