"""Structure labels (training targets) from an atom37 structure, in NumPy.

Produces the ground-truth feature keys that AF2's losses consume (AF2 v2.3 key names):

  key                              shape          dtype    notes
  aatype                           [L]            int32    0..20 (20 = UNK)
  all_atom_positions               [L, 37, 3]     float32  angstrom
  all_atom_mask                    [L, 37]        float32
  atom14_atom_exists               [L, 14]        float32  by residue type
  atom37_atom_exists               [L, 37]        float32  by residue type
  residx_atom14_to_atom37          [L, 14]        int32
  residx_atom37_to_atom14          [L, 37]        int32
  atom14_gt_positions              [L, 14, 3]     float32  zero where not resolved
  atom14_gt_exists                 [L, 14]        float32
  atom14_alt_gt_positions          [L, 14, 3]     float32  ambiguous atoms renamed
  atom14_alt_gt_exists             [L, 14]        float32
  atom14_atom_is_ambiguous         [L, 14]        float32
  rigidgroups_gt_frames            [L, 8, 12]     float32  flat12 (Suppl. Table 2 groups)
  rigidgroups_gt_exists            [L, 8]         float32
  rigidgroups_group_exists         [L, 8]         float32
  rigidgroups_group_is_ambiguous   [L, 8]         float32
  rigidgroups_alt_gt_frames        [L, 8, 12]     float32
  backbone_affine_tensor           [L, 7]         float32  quaternion (w,x,y,z) + CA
  backbone_affine_mask             [L]            float32  N, CA, C resolved
  torsion_angles_sin_cos           [L, 7, 2]      float32  (pre-omega, phi, psi, chi1-4)
  alt_torsion_angles_sin_cos       [L, 7, 2]      float32
  torsion_angles_mask              [L, 7]         float32
  chi_angles_sin_cos               [L, 4, 2]      float32  = torsion_angles_sin_cos[:, 3:]
  chi_angles                       [L, 4]         float32  radians, atan2(sin, cos)
  alt_chi_angles                   [L, 4]         float32  pi-periodic chis shifted by pi
  chi_mask                         [L, 4]         float32
  pseudo_beta                      [L, 3]         float32  CB (CA for glycine)
  pseudo_beta_mask                 [L]            float32
  resolution                       []             float32  0 for NMR / unknown (AF2)

The backbone frame is also `rigidgroups_gt_frames[:, 0]` (flat12, Rigid convention:
`Rigid.from_tensor_flat12`); `backbone_affine_tensor` is the same frame in AF2's
QuatAffine layout (`QuatAffine.from_tensor`, unit quaternion). All quantities are
computed in float64 and returned as float32.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from alphafold_jax.common import residue_constants as rc
from data_pipeline import frames
from data_pipeline.errors import PipelineError

NUM_RESTYPES_WITH_UNK = 21  # 20 standard types + UNK
NUM_TORSIONS = 7  # pre-omega, phi, psi, chi1..chi4


class LabelError(PipelineError):
  """Structure arrays that cannot be turned into labels (bad shape, aatype, NaN)."""


def _check_inputs(aatype: np.ndarray, positions: np.ndarray,
                  mask: Optional[np.ndarray] = None) -> None:
  if aatype.ndim != 1:
    raise LabelError(f'aatype must be [L], got shape {aatype.shape}')
  num_res = aatype.shape[0]
  if num_res == 0:
    raise LabelError('structure has no residues')
  if positions.shape != (num_res, rc.atom_type_num, 3):
    raise LabelError(f'all_atom_positions must be [{num_res}, 37, 3], '
                     f'got {positions.shape}')
  if mask is not None and mask.shape != (num_res, rc.atom_type_num):
    raise LabelError(f'all_atom_mask must be [{num_res}, 37], got {mask.shape}')
  bad = np.flatnonzero((aatype < 0) | (aatype >= NUM_RESTYPES_WITH_UNK))
  if bad.size:
    raise LabelError(f'aatype {int(aatype[bad[0]])} at residue {int(bad[0])} '
                     f'is outside 0..{NUM_RESTYPES_WITH_UNK - 1}')
  if not np.all(np.isfinite(positions)):
    res = int(np.argwhere(~np.isfinite(positions))[0, 0])
    raise LabelError(f'non-finite atom position at residue {res}')


def _gather_atoms(values: np.ndarray, index: np.ndarray) -> np.ndarray:
  """values [L, 37, ...] gathered per residue at atom37 index [L, *k] -> [L, *k, ...]."""
  num_res = values.shape[0]
  rows = np.arange(num_res).reshape((num_res,) + (1,) * (index.ndim - 1))
  return values[rows, index]


def make_atom14_masks(aatype: np.ndarray) -> Dict[str, np.ndarray]:
  """atom14/atom37 existence masks and index maps for a sequence.

  Same outputs as AF2's `data_transforms.make_atom14_masks` (Suppl. 1.2.1 atom14).
  aatype [L] -> atom14_atom_exists [L,14], residx_atom14_to_atom37 [L,14],
  residx_atom37_to_atom14 [L,37], atom37_atom_exists [L,37].
  """
  aatype = np.asarray(aatype)
  return {
      'atom14_atom_exists':
          rc.restype_atom14_mask[aatype].astype(np.float32),  # [L, 14]
      'residx_atom14_to_atom37':
          rc.restype_atom14_to_atom37[aatype].astype(np.int32),  # [L, 14]
      'residx_atom37_to_atom14':
          rc.restype_atom37_to_atom14[aatype].astype(np.int32),  # [L, 37]
      'atom37_atom_exists':
          rc.restype_atom37_mask[aatype].astype(np.float32),  # [L, 37]
  }


def make_atom14_positions(aatype: np.ndarray, all_atom_positions: np.ndarray,
                          all_atom_mask: np.ndarray) -> Dict[str, np.ndarray]:
  """atom14 ground truth and its renamed alternative (Suppl. 1.8.5, Alg. 26).

  Ambiguous side-chain atoms (ASP OD1/OD2, GLU OE1/OE2, PHE/TYR CD1/CD2 and
  CE1/CE2) are swapped in `atom14_alt_gt_positions` / `atom14_alt_gt_exists`;
  the loss later picks whichever naming fits the prediction better.
  Includes the outputs of `make_atom14_masks`.
  """
  aatype = np.asarray(aatype)
  positions = np.asarray(all_atom_positions, np.float64)
  mask = np.asarray(all_atom_mask, np.float64)
  _check_inputs(aatype, positions, mask)
  out = make_atom14_masks(aatype)
  to37 = out['residx_atom14_to_atom37']  # [L, 14]
  gt_exists = out['atom14_atom_exists'] * _gather_atoms(mask, to37)  # [L, 14]
  gt_positions = gt_exists[..., None] * _gather_atoms(positions, to37)  # [L,14,3]

  # Row i of the renaming matrix selects the atom that takes slot i.
  renaming = rc.restype_atom14_renaming_matrices[aatype]  # [L, 14, 14]
  alt_positions = np.einsum('rij,rjc->ric', renaming, gt_positions)  # [L,14,3]
  alt_exists = np.einsum('rij,rj->ri', renaming, gt_exists)  # [L, 14]

  out.update({
      'atom14_gt_positions': gt_positions.astype(np.float32),
      'atom14_gt_exists': gt_exists.astype(np.float32),
      'atom14_alt_gt_positions': alt_positions.astype(np.float32),
      'atom14_alt_gt_exists': alt_exists.astype(np.float32),
      'atom14_atom_is_ambiguous':
          rc.restype_atom14_is_ambiguous[aatype].astype(np.float32),  # [L, 14]
  })
  return out


def atom37_to_frames(aatype: np.ndarray, all_atom_positions: np.ndarray,
                     all_atom_mask: np.ndarray) -> Dict[str, np.ndarray]:
  """Ground-truth frames of the 8 rigid groups per residue (Suppl. 1.8, Table 2).

  Each group's frame is rigidFrom3Points (Suppl. Alg. 21) on three of its atoms
  (`residue_constants.restype_rigidgroup_base_atom37_idx`). Returns flat12 frames
  [L, 8, 12], their alternatives for the 180-degree-symmetric last chi group of
  ASP/GLU/PHE/TYR, and masks [L, 8].

  DISCREPANCY: the backbone frame is built from (C, CA, N), which points the x
  axis from C to CA, and is then mirrored in x and z ("old convention" in AF2's
  code) so that x points from CA to C as in Alg. 21 with (N, CA, C).
  """
  aatype = np.asarray(aatype)
  positions = np.asarray(all_atom_positions, np.float64)
  mask = np.asarray(all_atom_mask, np.float64)
  _check_inputs(aatype, positions, mask)

  base_idx = rc.restype_rigidgroup_base_atom37_idx[aatype]  # [L, 8, 3]
  base_pos = _gather_atoms(positions, base_idx)  # [L, 8, 3, 3]
  rot, trans = frames.frames_from_three_points(
      point_on_neg_x_axis=base_pos[:, :, 0], origin=base_pos[:, :, 1],
      point_on_xy_plane=base_pos[:, :, 2])  # rot [L, 8, 3, 3], trans [L, 8, 3]

  group_exists = rc.restype_rigidgroup_mask[aatype].astype(np.float64)  # [L, 8]
  base_mask = _gather_atoms(mask, base_idx)  # [L, 8, 3]
  gt_exists = np.min(base_mask, axis=-1) * group_exists  # [L, 8]

  # Mirror x and z axes of the backbone group (right-multiplying flips columns).
  mirror = np.ones((8, 3))
  mirror[0] = [-1., 1., -1.]
  rot = rot * mirror[None, :, None, :]  # [L, 8, 3, 3]

  # Alternative frames: rotate the ambiguous group by 180 degrees about x.
  flips = rc.restype_rigidgroup_ambiguity_rots[aatype]  # [L, 8, 3, 3]
  alt_rot = np.einsum('rgij,rgjk->rgik', rot, flips)  # [L, 8, 3, 3]

  return {
      'rigidgroups_gt_frames': frames.to_flat12(rot, trans).astype(np.float32),
      'rigidgroups_gt_exists': gt_exists.astype(np.float32),
      'rigidgroups_group_exists': group_exists.astype(np.float32),
      'rigidgroups_group_is_ambiguous':
          rc.restype_rigidgroup_is_ambiguous[aatype].astype(np.float32),
      'rigidgroups_alt_gt_frames':
          frames.to_flat12(alt_rot, trans).astype(np.float32),  # [L, 8, 12]
  }


def atom37_to_torsion_angles(
    aatype: np.ndarray, all_atom_positions: np.ndarray,
    all_atom_mask: np.ndarray,
    placeholder_for_undefined: bool = False) -> Dict[str, np.ndarray]:
  """The 7 torsion angles per residue as (sin, cos) (Suppl. 1.8.1, Table 2).

  Order: pre-omega (prev CA, prev C, N, CA), phi (prev C, N, CA, C),
  psi (N, CA, C, O), chi1..chi4. Each angle is measured in the frame
  rigidFrom3Points(atom1 on -x, atom2 origin, atom0 in xy) (Suppl. Alg. 21) as
  the direction (y, z) of atom3, i.e. sin = z / r, cos = y / r.
  psi is measured through O, which sits opposite the psi-defining N(i+1), so it
  is rotated by pi. `alt_torsion_angles_sin_cos` adds pi to pi-periodic chis.
  With `placeholder_for_undefined`, masked angles become (sin, cos) = (1, 0)
  (AF2's placeholder).

  DISCREPANCY: the first residue's pre-omega/phi use a zero "previous residue"
  (masked), and residues across chain breaks are treated as bonded (AF2 does
  the same; the mask only reflects missing atoms).
  """
  aatype = np.minimum(np.asarray(aatype), rc.restype_num)
  positions = np.asarray(all_atom_positions, np.float64)
  mask = np.asarray(all_atom_mask, np.float64)
  _check_inputs(aatype, positions, mask)
  n_i, ca_i, c_i, o_i = (rc.atom_order[a] for a in ('N', 'CA', 'C', 'O'))

  prev_pos = np.concatenate([np.zeros_like(positions[:1]), positions[:-1]], 0)
  prev_mask = np.concatenate([np.zeros_like(mask[:1]), mask[:-1]], 0)

  # Four defining atoms of each backbone torsion: [L, 3, 4, 3] and masks [L, 3].
  backbone_pos = np.stack([
      np.stack([prev_pos[:, ca_i], prev_pos[:, c_i],
                positions[:, n_i], positions[:, ca_i]], 1),  # pre-omega
      np.stack([prev_pos[:, c_i], positions[:, n_i],
                positions[:, ca_i], positions[:, c_i]], 1),  # phi
      np.stack([positions[:, n_i], positions[:, ca_i],
                positions[:, c_i], positions[:, o_i]], 1),  # psi
  ], axis=1)
  backbone_mask = np.stack([
      prev_mask[:, ca_i] * prev_mask[:, c_i] * mask[:, n_i] * mask[:, ca_i],
      prev_mask[:, c_i] * mask[:, n_i] * mask[:, ca_i] * mask[:, c_i],
      mask[:, n_i] * mask[:, ca_i] * mask[:, c_i] * mask[:, o_i],
  ], axis=1)

  chi_atoms = rc.chi_angles_atom_indices_with_unk  # [21, 4, 4] (UNK row 0), shared with the
  chi_type_mask = rc.chi_angles_mask_with_unk.astype(np.float64)  # model's jnp twin
  chi_periodic = rc.chi_pi_periodic_with_unk.astype(np.float64)  # (geometry/torsions.py)
  chi_idx = chi_atoms[aatype]  # [L, 4, 4]
  chi_pos = _gather_atoms(positions, chi_idx)  # [L, 4, 4, 3]
  chi_mask = chi_type_mask[aatype] * np.prod(
      _gather_atoms(mask, chi_idx), axis=-1)  # [L, 4]

  torsion_pos = np.concatenate([backbone_pos, chi_pos], axis=1)  # [L, 7, 4, 3]
  torsion_mask = np.concatenate([backbone_mask, chi_mask], axis=1)  # [L, 7]

  rot, trans = frames.frames_from_three_points(
      point_on_neg_x_axis=torsion_pos[:, :, 1], origin=torsion_pos[:, :, 2],
      point_on_xy_plane=torsion_pos[:, :, 0])  # [L, 7, 3, 3], [L, 7, 3]
  local = frames.invert_apply(rot, trans, torsion_pos[:, :, 3])  # [L, 7, 3]
  sin_cos = np.stack([local[..., 2], local[..., 1]], axis=-1)  # [L, 7, 2]
  sin_cos = sin_cos / np.sqrt(
      np.sum(sin_cos * sin_cos, axis=-1, keepdims=True) + frames.NORM_EPS)
  sign = np.ones(NUM_TORSIONS)
  sign[2] = -1.  # psi measured through O: rotate by pi
  sin_cos = sin_cos * sign[None, :, None]

  alt_sign = np.concatenate(
      [np.ones((aatype.shape[0], 3)), 1. - 2. * chi_periodic[aatype]], axis=1)
  alt_sin_cos = sin_cos * alt_sign[..., None]  # [L, 7, 2]

  if placeholder_for_undefined:
    placeholder = np.array([1., 0.])  # (sin, cos)
    keep = torsion_mask[..., None]
    sin_cos = sin_cos * keep + placeholder * (1. - keep)
    alt_sin_cos = alt_sin_cos * keep + placeholder * (1. - keep)

  return {
      'torsion_angles_sin_cos': sin_cos.astype(np.float32),
      'alt_torsion_angles_sin_cos': alt_sin_cos.astype(np.float32),
      'torsion_angles_mask': torsion_mask.astype(np.float32),
  }


def make_chi_labels(torsions: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
  """Chi targets for the side-chain torsion loss (Suppl. Alg. 27) from torsions."""
  sin_cos = torsions['torsion_angles_sin_cos'][:, 3:]  # [L, 4, 2]
  alt = torsions['alt_torsion_angles_sin_cos'][:, 3:]  # [L, 4, 2]
  return {
      'chi_angles_sin_cos': sin_cos,
      'chi_angles': np.arctan2(sin_cos[..., 0], sin_cos[..., 1]).astype(np.float32),
      'alt_chi_angles': np.arctan2(alt[..., 0], alt[..., 1]).astype(np.float32),
      'chi_mask': torsions['torsion_angles_mask'][:, 3:],  # [L, 4]
  }


def make_pseudo_beta(aatype: np.ndarray, all_atom_positions: np.ndarray,
                     all_atom_mask: np.ndarray) -> Dict[str, np.ndarray]:
  """Pseudo-beta atom: CB, or CA for glycine (Suppl. 1.9.2 distogram targets)."""
  aatype = np.asarray(aatype)
  is_gly = aatype == rc.restype_order['G']  # [L]
  atom = np.where(is_gly, rc.atom_order['CA'], rc.atom_order['CB'])  # [L]
  rows = np.arange(aatype.shape[0])
  return {
      'pseudo_beta': np.asarray(all_atom_positions)[rows, atom].astype(np.float32),
      'pseudo_beta_mask': np.asarray(all_atom_mask)[rows, atom].astype(np.float32),
  }


def make_backbone_affine(rigidgroup_frames: Dict[str, np.ndarray]
                         ) -> Dict[str, np.ndarray]:
  """Backbone frame labels in AF2's QuatAffine layout (for the backbone FAPE).

  backbone_affine_tensor [L, 7] = (unit quaternion w, x, y, z; CA position),
  backbone_affine_mask [L] = N, CA and C all resolved.
  """
  rot, trans = frames.from_flat12(
      rigidgroup_frames['rigidgroups_gt_frames'][:, 0].astype(np.float64))
  quat = frames.rot_to_quaternion(rot)  # [L, 4]
  return {
      'backbone_affine_tensor':
          np.concatenate([quat, trans], axis=-1).astype(np.float32),  # [L, 7]
      'backbone_affine_mask':
          rigidgroup_frames['rigidgroups_gt_exists'][:, 0].copy(),  # [L]
  }


def make_structure_labels(aatype: np.ndarray, all_atom_positions: np.ndarray,
                          all_atom_mask: np.ndarray,
                          resolution: float = 0.) -> Dict[str, np.ndarray]:
  """All structure labels (see module docstring table) for one chain."""
  aatype = np.asarray(aatype).astype(np.int32)
  positions = np.asarray(all_atom_positions, np.float64)
  mask = np.asarray(all_atom_mask, np.float64)
  _check_inputs(aatype, positions, mask)
  labels = {
      'aatype': aatype,
      'all_atom_positions': positions.astype(np.float32),
      'all_atom_mask': mask.astype(np.float32),
  }
  labels.update(make_atom14_positions(aatype, positions, mask))
  rigid = atom37_to_frames(aatype, positions, mask)
  labels.update(rigid)
  labels.update(make_backbone_affine(rigid))
  torsions = atom37_to_torsion_angles(aatype, positions, mask)
  labels.update(torsions)
  labels.update(make_chi_labels(torsions))
  labels.update(make_pseudo_beta(aatype, positions, mask))
  labels['resolution'] = np.asarray(resolution, np.float32)
  return labels


def labels_from_protein(protein, resolution: float = 0.) -> Dict[str, np.ndarray]:
  """`make_structure_labels` for an `alphafold_jax.common.protein.Protein`."""
  return make_structure_labels(protein.aatype, protein.atom_positions,
                               protein.atom_mask, resolution=resolution)
