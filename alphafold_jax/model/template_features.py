"""Parameter-free template features: torsion angles from atom37 and template pair features.

Jumper et al. 2021, Suppl. 1.4 / Table 1 (template features), Suppl. Alg. 2 lines 7-9, and
the torsion-angle definition of Suppl. 1.8.1 / Alg. 21 ("rigidFrom3Points"), used here in the
INVERSE direction (atoms -> torsions); `model/all_atom.py` holds the forward direction.

Shapes: T = templates, N = residues, 37 = atom37 slots (`residue_constants.atom_types`).
All functions are pure jnp (no Haiku), jit/vmap/grad safe, float32.

Torsions, in AF2's order: [pre_omega, phi, psi, chi1, chi2, chi3, chi4]. Each is defined by
four atoms (a, b, c, d): the frame with origin c, b on its negative x axis and a in its
xy plane; the torsion is the angle of d around the x axis: (sin, cos) = (z, y) of d in that
frame, normalised. psi is computed from the backbone O and then mirrored (x -1 on both).
"""

from __future__ import annotations

from typing import Dict, Mapping, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.common import residue_constants
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model.embedders import DistogramBins, dgram_from_positions

# Regulariser of AF2's robust norms: sqrt(|v|^2 + eps).
_EPS = 1e-8
NUM_TORSIONS = 7
NUM_TEMPLATE_AATYPES = 22  # 20 amino acids + X + gap
NUM_TEMPLATE_SINGLE_FEATURES = NUM_TEMPLATE_AATYPES + 2 * 2 * NUM_TORSIONS + NUM_TORSIONS  # 57


def _atom_index(name: str) -> int:
  return residue_constants.atom_order[name]


def chi_atom_indices_table() -> np.ndarray:
  """[21, 4, 4] atom37 indices of the four atoms of each chi (UNK and absent chis: zeros)."""
  table = np.zeros((residue_constants.restype_num + 1, 4, 4), np.int32)
  for restype, one_letter in enumerate(residue_constants.restypes):
    quads = residue_constants.chi_angles_atoms[residue_constants.restype_1to3[one_letter]]
    for k, quad in enumerate(quads):
      table[restype, k] = [_atom_index(a) for a in quad]
  return table


def chi_angles_mask_table() -> np.ndarray:
  """[21, 4] 1 where the residue type has that chi (UNK row all zeros)."""
  return np.concatenate([np.asarray(residue_constants.chi_angles_mask, np.float32),
                         np.zeros((1, 4), np.float32)], axis=0)


def _dot(x: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
  return jnp.sum(x * y, axis=-1)


def torsion_sin_cos(a: jnp.ndarray, b: jnp.ndarray, c: jnp.ndarray,
                    d: jnp.ndarray) -> jnp.ndarray:
  """(sin, cos) of the torsion of d around the axis b -> c, measured from a. [..., 3] -> [..., 2].

  Same real-number function as AF2's rigidFrom3Points (Alg. 21, with its sqrt(|v|^2 + 1e-8)
  robust norms) followed by the normalisation of (z, y). The in-plane axis is formed as
     v_perp = ((u x (a - b)) x u + eps v) / (|u|^2 + eps),   u = c - b, v = a - c,
  which equals AF2's v - (v . e0) e0 exactly in the reals (u x v = u x (a - b)), but has no
  rounding noise when a == b: then the cross product is exactly zero.

  DISCREPANCY: AF2 computes e.g. the N-terminal pre-omega from two zero pad atoms (a == b == 0);
  its Gram-Schmidt then normalises rounding noise and returns an arbitrary unit (sin, cos).
  We return AF2's real-number value there, a near-zero (sin, cos) (|(sin, cos)| << 1 for
  coordinates of tens of angstrom); such torsions are masked out (torsion_angles_mask = 0).
  """
  u = c - b  # [..., 3]  e0 ~ u (b lies on the negative x axis)
  v = a - c  # [..., 3]  in-plane vector
  w = d - c  # [..., 3]  the fourth atom relative to the origin
  u_sq = _dot(u, u)[..., None]  # [..., 1]
  e0 = u / jnp.sqrt(u_sq + _EPS)  # [..., 3]
  # u x v == u x (a - b); the right side is exactly 0 when a == b, even with fused multiply-adds.
  normal = jnp.cross(u, a - b)  # [..., 3]  ~ e2
  v_perp = (jnp.cross(normal, u) + _EPS * v) / (u_sq + _EPS)  # [..., 3]
  e1 = v_perp / jnp.sqrt(_dot(v_perp, v_perp)[..., None] + _EPS)  # [..., 3]
  e2 = jnp.cross(e0, e1)  # [..., 3]
  sin_cos = jnp.stack([_dot(e2, w), _dot(e1, w)], axis=-1)  # [..., 2]  (z, y)
  return sin_cos / jnp.sqrt(jnp.sum(jnp.square(sin_cos), -1, keepdims=True) + _EPS)


def atom37_to_torsion_angles(aatype: jnp.ndarray, all_atom_positions: jnp.ndarray,
                             all_atom_mask: jnp.ndarray,
                             placeholder_for_undefined: bool = False) -> Dict[str, jnp.ndarray]:
  """The 7 torsion angles of every residue from atom37 coordinates.

  aatype [..., N] int (values > 20, e.g. the template gap 21, count as UNK),
  all_atom_positions [..., N, 37, 3], all_atom_mask [..., N, 37]. The residue axis is the
  one before the atom axis; residue i-1 is its predecessor (the first residue sees a zero pad).
  Returns (AF2 keys):
    torsion_angles_sin_cos      [..., N, 7, 2]
    alt_torsion_angles_sin_cos  [..., N, 7, 2]  chi rotated by pi for pi-periodic chis
                                                 (ASP chi2, GLU chi3, PHE chi2, TYR chi2)
    torsion_angles_mask         [..., N, 7]     1 where all four atoms exist (and the chi
                                                 exists for the residue type)
  placeholder_for_undefined: replace masked torsions by (sin, cos) = (1, 0) (AF2 sets this
  to `not global_config.zero_init`); otherwise masked entries hold whatever the atoms give.
  """
  if all_atom_positions.shape[-2:] != (residue_constants.atom_type_num, 3):
    raise ValueError(f'all_atom_positions must be [..., N, 37, 3], got {all_atom_positions.shape}')
  if all_atom_mask.shape != all_atom_positions.shape[:-1]:
    raise ValueError(f'all_atom_mask shape {all_atom_mask.shape} does not match positions '
                     f'{all_atom_positions.shape}')
  aatype = jnp.minimum(aatype, residue_constants.restype_num)  # [..., N]
  pos = all_atom_positions.astype(jnp.float32)  # [..., N, 37, 3]
  mask = all_atom_mask.astype(jnp.float32)  # [..., N, 37]
  n, ca, c, o = (_atom_index(x) for x in ('N', 'CA', 'C', 'O'))

  def shift_prev(x: jnp.ndarray, axis: int) -> jnp.ndarray:
    """x[i] -> x[i-1] along the residue axis, zeros at the first residue."""
    axis = axis % x.ndim
    pad = [(0, 0)] * x.ndim
    pad[axis] = (1, 0)
    return jax.lax.slice_in_dim(jnp.pad(x, pad), 0, x.shape[axis], axis=axis)

  prev_pos, prev_mask = shift_prev(pos, -3), shift_prev(mask, -2)  # [..., N, 37, 3], [..., N, 37]

  # Backbone quadruples (a, b, c, d), each [..., N, 4, 3].
  pre_omega = jnp.stack([prev_pos[..., ca, :], prev_pos[..., c, :], pos[..., n, :],
                         pos[..., ca, :]], axis=-2)
  phi = jnp.stack([prev_pos[..., c, :], pos[..., n, :], pos[..., ca, :], pos[..., c, :]], axis=-2)
  psi = jnp.stack([pos[..., n, :], pos[..., ca, :], pos[..., c, :], pos[..., o, :]], axis=-2)
  pre_omega_mask = prev_mask[..., ca] * prev_mask[..., c] * mask[..., n] * mask[..., ca]
  phi_mask = prev_mask[..., c] * mask[..., n] * mask[..., ca] * mask[..., c]
  psi_mask = mask[..., n] * mask[..., ca] * mask[..., c] * mask[..., o]  # [..., N]

  # Side-chain quadruples via per-type atom indices.
  chi_idx = jnp.asarray(chi_atom_indices_table())[aatype]  # [..., N, 4 chis, 4 atoms]
  chi_pos = jnp.take_along_axis(pos[..., None, :, :],  # [..., N, 1, 37, 3]
                                chi_idx[..., None], axis=-2)  # [..., N, 4, 4, 3]
  chi_atoms_mask = jnp.take_along_axis(mask[..., None, :], chi_idx, axis=-1)  # [..., N, 4, 4]
  chi_mask = (jnp.asarray(chi_angles_mask_table())[aatype]  # [..., N, 4]
              * jnp.prod(chi_atoms_mask, axis=-1))

  quads = jnp.concatenate([pre_omega[..., None, :, :], phi[..., None, :, :],
                           psi[..., None, :, :], chi_pos], axis=-3)  # [..., N, 7, 4, 3]
  torsion_mask = jnp.concatenate([pre_omega_mask[..., None], phi_mask[..., None],
                                  psi_mask[..., None], chi_mask], axis=-1)  # [..., N, 7]

  sin_cos = torsion_sin_cos(quads[..., 0, :], quads[..., 1, :], quads[..., 2, :],
                            quads[..., 3, :])  # [..., N, 7, 2]
  # psi is defined through N-CA-C-O; mirror to the paper's psi (O sits opposite to N_{i+1}).
  psi_sign = jnp.array([1., 1., -1., 1., 1., 1., 1.], jnp.float32)  # [7]
  sin_cos = sin_cos * psi_sign[:, None]

  pi_periodic = jnp.asarray(residue_constants.chi_pi_periodic, jnp.float32)[aatype]  # [..., N, 4]
  alt_sign = jnp.concatenate([jnp.ones(pi_periodic.shape[:-1] + (3,), jnp.float32),
                              1.0 - 2.0 * pi_periodic], axis=-1)  # [..., N, 7]
  alt_sin_cos = sin_cos * alt_sign[..., None]

  if placeholder_for_undefined:
    placeholder = jnp.array([1.0, 0.0], jnp.float32)  # (sin, cos)
    m = torsion_mask[..., None]
    sin_cos = sin_cos * m + placeholder * (1.0 - m)
    alt_sin_cos = alt_sin_cos * m + placeholder * (1.0 - m)

  return {
      'torsion_angles_sin_cos': sin_cos,
      'alt_torsion_angles_sin_cos': alt_sin_cos,
      'torsion_angles_mask': torsion_mask,
  }


def backbone_frames(all_atom_positions: jnp.ndarray,
                    all_atom_mask: jnp.ndarray) -> Tuple[Rigid, jnp.ndarray]:
  """AF2 backbone frames from atom37: origin CA, C on the +x axis, N in the xy plane (y > 0).

  all_atom_positions [..., 37, 3], all_atom_mask [..., 37] -> (Rigid [...], mask [...]) with
  mask = N * CA * C present. `Rigid.from_backbone`, i.e. the frame of AF2's
  `rigidgroups_gt_frames[..., 0, :]` and `quat_affine.make_transform_from_reference`.
  """
  n, ca, c = (_atom_index(x) for x in ('N', 'CA', 'C'))
  frames = Rigid.from_backbone(all_atom_positions[..., n, :], all_atom_positions[..., ca, :],
                               all_atom_positions[..., c, :])
  mask = all_atom_mask[..., n] * all_atom_mask[..., ca] * all_atom_mask[..., c]
  return frames, mask


def template_pair_features(template: Mapping[str, jnp.ndarray], dgram_bins: DistogramBins,
                           use_unit_vector: bool = False,
                           dtype=jnp.float32) -> jnp.ndarray:
  """Pair features of ONE template (Suppl. Table 1 'template_pair'), [N, N, 88] by default bins.

  template: template_aatype [N] int, template_all_atom_positions [N, 37, 3],
    template_all_atom_masks [N, 37], template_pseudo_beta [N, 3], template_pseudo_beta_mask [N].
  dgram_bins: a `DistogramBins` (39 bins 3.25-50.75 A for model_1_ptm).
  Channel layout (AF2 order): distogram [num_bins], pseudo-beta pair mask [1],
    aatype one-hot of residue j [22], of residue i [22], unit vector from CA_i to CA_j in
    the backbone frame of i (x, y, z) [3] (zeros unless `use_unit_vector`), backbone pair
    mask [1]. Everything is multiplied by the backbone pair mask.

  DISCREPANCY: the paper's Table 1 lists the unit vector as a feature; AF2 v2.3 monomer
  models are run with use_template_unit_vector=False, which zeroes those 3 channels. AF2 also
  masks ALL channels (the distogram and its pseudo-beta mask included) with the backbone
  (N, CA, C) pair mask.
  """
  num_res = template['template_aatype'].shape[0]
  pb_mask = template['template_pseudo_beta_mask'].astype(dtype)  # [N]
  pb_mask_2d = pb_mask[:, None] * pb_mask[None, :]  # [N, N]
  dgram = dgram_from_positions(template['template_pseudo_beta'], dgram_bins).astype(dtype)
  aatype = jax.nn.one_hot(template['template_aatype'], NUM_TEMPLATE_AATYPES, dtype=dtype)  # [N, 22]

  positions = template['template_all_atom_positions'].astype(jnp.float32)
  frames, bb_mask = backbone_frames(positions, template['template_all_atom_masks'])  # [N]
  bb_mask_2d = (bb_mask[:, None] * bb_mask[None, :]).astype(jnp.float32)  # [N, N]
  # Vector to CA_j expressed in the frame of residue i.
  local = frames[:, None].invert_apply(frames.trans[None, :, :])  # [N(i), N(j), 3]
  inv_dist = jax.lax.rsqrt(1e-6 + jnp.sum(jnp.square(local), -1)) * bb_mask_2d  # [N, N]
  unit = (local * inv_dist[..., None]).astype(dtype)  # [N, N, 3]
  if not use_unit_vector:
    unit = jnp.zeros_like(unit)
  bb_mask_2d = bb_mask_2d.astype(dtype)

  act = jnp.concatenate([
      dgram,  # [N, N, num_bins]
      pb_mask_2d[..., None],  # [N, N, 1]
      jnp.broadcast_to(aatype[None, :, :], (num_res, num_res, NUM_TEMPLATE_AATYPES)),  # a_j
      jnp.broadcast_to(aatype[:, None, :], (num_res, num_res, NUM_TEMPLATE_AATYPES)),  # a_i
      unit,  # [N, N, 3]
      bb_mask_2d[..., None],  # [N, N, 1]
  ], axis=-1)
  return act * bb_mask_2d[..., None]  # [N, N, num_bins + 49]


def template_single_features(template_batch: Mapping[str, jnp.ndarray],
                             placeholder_for_undefined: bool = False,
                             dtype=jnp.float32) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Per-residue template features for the extra MSA-like rows (Suppl. Alg. 2 line 7).

  template_batch: template_aatype [T, N], template_all_atom_positions [T, N, 37, 3],
    template_all_atom_masks [T, N, 37].
  Returns features [T, N, 57] = aatype one-hot (22) ++ torsion sin/cos (14) ++ alternative
  sin/cos (14) ++ torsion mask (7), and the row mask [T, N] (the psi mask: it depends only on
  backbone atoms of the residue itself).
  """
  aatype = template_batch['template_aatype']
  num_templ, num_res = aatype.shape
  tors = atom37_to_torsion_angles(aatype, template_batch['template_all_atom_positions'],
                                  template_batch['template_all_atom_masks'],
                                  placeholder_for_undefined=placeholder_for_undefined)
  feats = jnp.concatenate([
      jax.nn.one_hot(aatype, NUM_TEMPLATE_AATYPES, dtype=jnp.float32),  # [T, N, 22]
      tors['torsion_angles_sin_cos'].reshape(num_templ, num_res, 2 * NUM_TORSIONS),  # [T, N, 14]
      tors['alt_torsion_angles_sin_cos'].reshape(num_templ, num_res, 2 * NUM_TORSIONS),
      tors['torsion_angles_mask'],  # [T, N, 7]
  ], axis=-1).astype(dtype)
  return feats, tors['torsion_angles_mask'][..., 2].astype(dtype)
