"""Torsion angles from atom37 coordinates (pure jnp): the inverse of all-atom construction.

Jumper et al. 2021, Suppl. 1.8.1 / Table 2 and Alg. 21 ("rigidFrom3Points"), used in the
INVERSE direction (atoms -> torsions); `model/all_atom.py` holds the forward direction. Used by
the template features (model/template_features.py) and available to any JAX code.
The NumPy twin `data_pipeline.labels.atom37_to_torsion_angles` computes the training labels in
float64 inside the input pipeline (which never imports jax); both read the same chi tables
(`residue_constants.chi_angles_*_with_unk`).

Torsions, in AF2's order: [pre_omega, phi, psi, chi1, chi2, chi3, chi4]. Each is defined by
four atoms (a, b, c, d): the frame with origin c, b on its negative x axis and a in its
xy plane; the torsion is the angle of d around the x axis: (sin, cos) = (z, y) of d in that
frame, normalised. psi is computed from the backbone O and then mirrored (x -1 on both).
Shapes: N = residues, 37 = atom37 slots. jit/vmap/grad safe, float32.
"""

from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp

from alphafold_jax.common import residue_constants

# Regulariser of AF2's robust norms: sqrt(|v|^2 + eps).
_EPS = 1e-8
NUM_TORSIONS = 7


def _atom_index(name: str) -> int:
  return residue_constants.atom_order[name]


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
  chi_idx = jnp.asarray(residue_constants.chi_angles_atom_indices_with_unk, jnp.int32)[aatype]  # [..., N, 4 chis, 4 atoms]
  chi_pos = jnp.take_along_axis(pos[..., None, :, :],  # [..., N, 1, 37, 3]
                                chi_idx[..., None], axis=-2)  # [..., N, 4, 4, 3]
  chi_atoms_mask = jnp.take_along_axis(mask[..., None, :], chi_idx, axis=-1)  # [..., N, 4, 4]
  chi_mask = (jnp.asarray(residue_constants.chi_angles_mask_with_unk)[aatype]  # [..., N, 4]
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

  pi_periodic = jnp.asarray(residue_constants.chi_pi_periodic_with_unk)[aatype]  # [..., N, 4]
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
