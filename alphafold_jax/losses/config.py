"""Typed, frozen configuration of the AlphaFold2 losses (defaults = AF2 weights).

The one home of every loss weight (the model presets set AF2's released values, see
alphafold_jax/config/presets.py). Values follow AF2 v2.3's `model_config` heads and the supplement
(Jumper et al. 2021, Suppl. Sec. 1.9 and 1.11, Table 6: initial training vs fine-tuning).

DISCREPANCY: the paper's torsion loss (Suppl. Alg. 27) weights the angle-norm term 0.02,
DeepMind's code (and this default) uses chi_weight 0.5 and angle_norm_weight 0.01 inside the
structure-module loss.
DISCREPANCY: DeepMind's released config sets structural_violation_loss_weight = 1.0 and
experimentally_resolved weight = 0.01 (fine-tuning values); the paper trains initially with
both at 0. Our default is the initial-training setting; `fine_tuning()` gives the other.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class LossConfig:
  """All loss hyper-parameters and weights. Unknown fields fail at construction."""

  # ---- structure module: backbone FAPE (Suppl. Alg. 20 l.17, Alg. 28) -----------
  structure_module_weight: float = 1.0
  fape_clamp_distance: Optional[float] = 10.0   # None -> never clamp
  fape_length_scale: float = 10.0               # Z in Alg. 28 (angstrom)
  fape_epsilon: float = 1e-4                    # inside the sqrt and the denominator
  # ---- side-chain (all-atom) FAPE ---------------------------------------------
  sidechain_weight_frac: float = 0.5            # loss = (1-f) * backbone + f * sidechain
  sidechain_clamp_distance: Optional[float] = 10.0
  sidechain_length_scale: float = 10.0
  # ---- torsions (Suppl. Alg. 27) -------------------------------------------------
  chi_weight: float = 0.5
  angle_norm_weight: float = 0.01
  # ---- structural violations (Suppl. Sec. 1.9.11) -----------------------------
  structural_violation_loss_weight: float = 0.0  # 1.0 in fine-tuning
  violation_tolerance_factor: float = 12.0       # stddevs of the PDB distribution
  # Flat-bottom width of the bond/angle *loss* in the same stddevs; None = AF2 (the metric's
  # violation_tolerance_factor). Smaller pulls peptide geometry to ideal, not only under 12 sigma.
  violation_loss_tolerance_factor: Optional[float] = None
  compute_violation_metrics: bool = True         # AF2's in-graph violation metrics
  # Not in AF2: peptide distances vs the true structure (losses/peptide_geometry.py), inside
  # the structure-module term like the violation loss. 0 = off (AF2).
  peptide_geometry_weight: float = 0.0
  clash_overlap_tolerance: float = 1.5           # angstrom
  # ---- head losses (Suppl. Sec. 1.9.6-1.9.10). A weight of 0 also means the model does not
  # build that optional head (masked MSA, experimentally resolved, PAE), as in AF2. Bin
  # layouts are the heads' (model/heads configs): the losses read them from the predictions
  # (distogram 'bin_edges', PAE 'breaks', the logits' last axis), never from here.
  distogram_weight: float = 0.3
  masked_msa_weight: float = 2.0
  plddt_weight: float = 0.01
  plddt_cutoff: float = 15.0                     # lDDT inclusion radius of the pLDDT target
  pae_weight: float = 0.1
  experimentally_resolved_weight: float = 0.0    # 0.01 in fine-tuning
  # ---- AF2-Multimer only (losses/multimer_total.py): chain centre-of-mass term (Evans et al.
  # 2021 Sec. 2.5). DeepMind's weight is unpublished; OpenFold's multimer config uses 0.05.
  chain_center_of_mass_weight: float = 0.0
  # ---- resolution filter for pLDDT, PAE and experimentally-resolved ------------------
  filter_by_resolution: bool = True
  min_resolution: float = 0.1
  max_resolution: float = 3.0

  def __post_init__(self):
    for f in dataclasses.fields(self):
      v = getattr(self, f.name)
      if f.name.endswith('_weight') or f.name == 'sidechain_weight_frac':
        if not isinstance(v, (int, float)) or v < 0:
          raise ValueError(f'LossConfig.{f.name} must be a non-negative number, got {v!r}')
    if not 0. <= self.sidechain_weight_frac <= 1.:
      raise ValueError('LossConfig.sidechain_weight_frac must lie in [0, 1], '
                       f'got {self.sidechain_weight_frac}')
    if self.violation_loss_tolerance_factor is not None and self.violation_loss_tolerance_factor < 0:
      raise ValueError('LossConfig.violation_loss_tolerance_factor must be >= 0 or None, got '
                       f'{self.violation_loss_tolerance_factor}')
    for name in ('fape_length_scale', 'sidechain_length_scale', 'fape_epsilon'):
      if getattr(self, name) <= 0:
        raise ValueError(f'LossConfig.{name} must be > 0, got {getattr(self, name)}')

  def replace(self, **changes) -> 'LossConfig':
    return dataclasses.replace(self, **changes)

  @classmethod
  def fine_tuning(cls, **overrides) -> 'LossConfig':
    """AF2 fine-tuning weights (Suppl. Table 6): violations 1.0, exp. resolved 0.01."""
    kw = dict(structural_violation_loss_weight=1.0, experimentally_resolved_weight=0.01)
    kw.update(overrides)
    return cls(**kw)
