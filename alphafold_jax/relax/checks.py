"""AF2's violation check for relax, computed with OUR violation functions (alphafold_jax.losses).

A residue violates when it has a bond-length/angle outlier to its neighbour, a between-residue
clash or a within-residue distance outlier (Suppl. Sec. 1.9.11), with AF2's relax settings:
violation_tolerance_factor 12, clash_overlap_tolerance 1.5 (LossConfig's defaults). The
computation (and its DISCREPANCY for atoms missing from the input) lives in
`alphafold_jax.metrics.structural_violations`, shared with the predict JSON.
"""

from typing import Dict

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.metrics.structural_violations import violation_report as _report


def violation_report(prot: protein_lib.Protein) -> Dict:
  """{'num_residue_violations': int, 'residue_violations': zero-based positions,
  'violations_per_residue': fraction, and the other AF2 violation metrics (floats)}."""
  return _report(prot.aatype, prot.atom_positions, prot.atom_mask, prot.residue_index)
