"""AF2's violation check for relax, computed with OUR violation functions (alphafold_jax.losses).

A residue violates when it has a bond-length/angle outlier to its neighbour, a between-residue
clash or a within-residue distance outlier (Suppl. Sec. 1.9.11), with AF2's relax settings:
violation_tolerance_factor 12, clash_overlap_tolerance 1.5 (LossConfig's defaults).

DISCREPANCY: AF2 builds the atom14 batch with the ideal `atom14_atom_exists`, so an atom missing
from the input counts at the origin; we use the atoms present (ideal AND observed). The two agree
on every relaxed structure (all heavy atoms present) and differ only for inputs with missing
atoms, whose count before relax would otherwise be inflated by phantom clashes.
"""

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.losses import LossConfig, compute_violation_metrics, find_structural_violations
from data_pipeline import labels


@jax.jit
def _violations(aatype, residue_index, exists, positions):
  batch = {'aatype': aatype, 'residue_index': residue_index, 'atom14_atom_exists': exists,
           'seq_mask': jnp.ones(aatype.shape, jnp.float32)}
  found = find_structural_violations(batch, positions, LossConfig())
  metrics = compute_violation_metrics(batch, positions, found)
  return found['total_per_residue_violations_mask'], metrics


def violation_report(prot: protein_lib.Protein) -> Dict:
  """{'num_residue_violations': int, 'residue_violations': zero-based positions,
  'violations_per_residue': fraction, and the other AF2 violation metrics (floats)}."""
  atom14 = labels.make_atom14_positions(prot.aatype, prot.atom_positions, prot.atom_mask)
  with jax.default_device(jax.devices('cpu')[0]):
    per_residue, metrics = _violations(
        jnp.asarray(prot.aatype, jnp.int32), jnp.asarray(prot.residue_index, jnp.int32),
        jnp.asarray(atom14['atom14_gt_exists']), jnp.asarray(atom14['atom14_gt_positions']))
  positions = np.flatnonzero(np.asarray(per_residue) > 0)
  report = {name: float(value) for name, value in metrics.items()}
  report.update(num_residue_violations=int(positions.size),
                residue_violations=[int(i) for i in positions])
  return report
