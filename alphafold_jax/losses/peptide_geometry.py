"""Peptide-bond geometry against the true structure: an optional training term (not in AF2).

AF2's violation loss (losses/violations.py) is flat up to 12 sigma and says nothing about the
peptide's planarity, so a model trained with it can still place C(i) and N(i+1) 0.1-0.2 A off
and build cis peptides where the structure has trans (CA-CA 2.9 instead of 3.8 A). This term
compares the four distances that fix a peptide bond's geometry,

  C(i)-N(i+1) (bond length), CA(i)-N(i+1) and C(i)-CA(i+1) (the two bond angles),
  CA(i)-CA(i+1) (with the above: the omega dihedral, cis or trans),

with the same distances in the true structure (cis-prolines included as they are):
L = mean over bonded residue pairs and the four distances of e + e^2 / OUTLIER_SCALE with
e = |d_pred - d_true| (angstrom): linear for the typical 0.03 A error, steeper for the rare
0.5 A one (a near-cis peptide in a glycine turn), which a plain mean of |e| left in place.
Used by the nano_ipa fine-tuning preset (LossConfig.peptide_geometry_weight).
Shapes: N residues, atom14 slots (N=0, CA=1, C=2).
"""

from __future__ import annotations

from typing import Dict, Mapping, Tuple

import jax.numpy as jnp

from alphafold_jax.losses._keys import lookup

_N, _CA, _C = 0, 1, 2
_PAIRS = ((_C, _N), (_CA, _N), (_C, _CA), (_CA, _CA))  # (atom of residue i, atom of i + 1)
OUTLIER_SCALE = 0.25  # angstrom: e^2 / 0.25 equals e at e = 0.25 A


def _distances(pos: jnp.ndarray) -> jnp.ndarray:
  """pos [N, 14, 3] -> [N-1, 4] distances of _PAIRS between residues i and i+1."""
  return jnp.stack([jnp.sqrt(1e-8 + jnp.sum(jnp.square(pos[1:, b] - pos[:-1, a]), -1))
                    for a, b in _PAIRS], axis=-1)


def peptide_geometry_loss(atom14_pred_positions: jnp.ndarray, batch: Mapping[str, jnp.ndarray]
                          ) -> Tuple[jnp.ndarray, Dict[str, jnp.ndarray]]:
  """Mean e + e^2 / OUTLIER_SCALE, e = |d_pred - d_true| (A), of the four peptide distances
  over bonded pairs (i, i+1):
  both residues' N, CA, C resolved and residue_index[i+1] - residue_index[i] == 1.
  batch: atom14_gt_positions [N, 14, 3], atom14_gt_exists [N, 14], residue_index [N]."""
  get = lambda k: lookup(batch, k, what='batch')
  true_pos = jnp.asarray(get('atom14_gt_positions'), jnp.float32)
  exists = jnp.asarray(get('atom14_gt_exists'), jnp.float32)
  residue_index = jnp.asarray(get('residue_index'))
  backbone = jnp.prod(exists[:, (_N, _CA, _C)], axis=-1)  # [N]
  bonded = backbone[:-1] * backbone[1:] * (residue_index[1:] - residue_index[:-1] == 1)  # [N-1]
  err = jnp.abs(_distances(atom14_pred_positions.astype(jnp.float32)) - _distances(true_pos))
  count = jnp.sum(bonded) + 1e-6
  loss = jnp.sum(bonded[:, None] * (err + jnp.square(err) / OUTLIER_SCALE)) / (4. * count)
  return loss, {'peptide_geometry_loss': loss,
                'peptide_distance_error': jnp.sum(bonded[:, None] * err) / (4. * count),
                'peptide_ca_ca_error': jnp.sum(bonded * err[:, 3]) / count}
