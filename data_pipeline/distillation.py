"""Self-distillation targets: predicted structures with low-confidence residues masked.

AF2 (Jumper et al. 2021, Suppl. 1.3) trains 75 % of its examples on structures it predicted
itself, with the low-confidence residues of those targets masked out of the labels. Predicted
structures as AF2 / ColabFold / `alphafold-jax predict` write them carry the per-residue pLDDT
(0-100) in the B-factor column of every atom; `mask_low_confidence` zeroes the atom mask of
every residue whose pLDDT is below `min_plddt` (default DISTILLATION_MIN_PLDDT = 70), so every
label derived from the atom mask (frames, torsions, pseudo-beta, atom14) excludes it.
Distillation targets have no experimental resolution (0): the resolution window of the
pLDDT, PAE and experimentally-resolved losses (losses/_utils.resolution_weight) turns those
terms off for them, as in AF2.

DISCREPANCY: AF2 masked with its own distogram-KL confidence c_i (Suppl. 1.3); predicted files
carry pLDDT instead. OpenFold masks pLDDT <= 50 (`confidence_threshold`); 70 ("confident" in
AF2's pLDDT bands) is stricter.
"""

from __future__ import annotations

import dataclasses

import numpy as np

DISTILLATION_MIN_PLDDT = 70.0


def residue_plddt(prot) -> np.ndarray:
  """[L] pLDDT of each residue: the largest B-factor over its present atoms (a predicted
  file writes one value per residue on every atom); 0 for a residue without atoms."""
  b_factors = np.asarray(prot.b_factors, np.float32)  # [L, 37]
  present = np.asarray(prot.atom_mask) > 0  # [L, 37]
  return np.where(present, b_factors, -np.inf).max(axis=-1, initial=-np.inf).clip(min=0.)


def mask_low_confidence(prot, min_plddt: float = DISTILLATION_MIN_PLDDT):
  """`prot` with the atom mask of residues with pLDDT < min_plddt set to 0."""
  keep = residue_plddt(prot) >= min_plddt  # [L]
  atom_mask = np.asarray(prot.atom_mask, np.float32) * keep[:, None]  # [L, 37]
  return dataclasses.replace(prot, atom_mask=atom_mask)
