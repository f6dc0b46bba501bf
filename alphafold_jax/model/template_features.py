"""Parameter-free template features: template pair features and the torsion rows.

Jumper et al. 2021, Suppl. 1.4 / Table 1 (template features), Suppl. Alg. 2 lines 7-9; the
torsion angles come from `geometry/torsions.py` (Suppl. 1.8.1, inverse of Alg. 24).

Shapes: T = templates, N = residues, 37 = atom37 slots (`residue_constants.atom_types`).
All functions are pure jnp (no Haiku), jit/vmap/grad safe, float32.
"""

from __future__ import annotations

from typing import Mapping, Tuple

import jax
import jax.numpy as jnp

from alphafold_jax.common import residue_constants
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.geometry.torsions import NUM_TORSIONS, atom37_to_torsion_angles
from alphafold_jax.model.embedders import DistogramBins, dgram_from_positions

NUM_TEMPLATE_AATYPES = 22  # 20 amino acids + X + gap
NUM_TEMPLATE_SINGLE_FEATURES = NUM_TEMPLATE_AATYPES + 2 * 2 * NUM_TORSIONS + NUM_TORSIONS  # 57


def backbone_frames(all_atom_positions: jnp.ndarray,
                    all_atom_mask: jnp.ndarray) -> Tuple[Rigid, jnp.ndarray]:
  """AF2 backbone frames from atom37: origin CA, C on the +x axis, N in the xy plane (y > 0).

  all_atom_positions [..., 37, 3], all_atom_mask [..., 37] -> (Rigid [...], mask [...]) with
  mask = N * CA * C present. `Rigid.from_backbone`, i.e. the frame of AF2's
  `rigidgroups_gt_frames[..., 0, :]` and `quat_affine.make_transform_from_reference`.
  """
  n, ca, c = (residue_constants.atom_order[x] for x in ('N', 'CA', 'C'))
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
