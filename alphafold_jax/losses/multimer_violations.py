"""Chain-aware structural violations for complexes (AF2-Multimer v2.3,
`folding_multimer.find_structural_violations`; Jumper et al. 2021, Suppl. Sec. 1.9.11).

The monomer checks (violations_bonds.py, violations_clashes.py, violations.py) order and pair
residues by residue_index alone. In a complex every chain restarts its numbering, so here they
see a chain-offset index (`chain_residue_index`: asym_id * CHAIN_OFFSET + residue_index):
  * peptide-bond length / angle terms and the extreme CA-CA metric only between consecutive
    residues of the same chain (index step 1 within one asym_id);
  * the C(i)-N(i+1) clash exemption only within a chain;
  * clashes between chains all count, each residue pair once.

DISCREPANCY: DeepMind's multimer clash loss keeps residue pairs with residue_index[i] <
residue_index[j] (the monomer's "each pair once" rule), which drops every cross-chain pair with
EQUAL residue indices (google-deepmind/alphafold#377); its bond terms gate on residue_index
alone, so a chain numbered on from the previous one (last residue k, next chain's first k + 1)
gets a spurious peptide bond. Here both follow asym_id. On inputs whose chains have disjoint
residue-index ranges both codes give the same numbers (tests/losses/test_multimer_violations.py).

Shapes: N = residues, 14 = atom14 slots.
"""

from __future__ import annotations

from typing import Dict, Mapping, Tuple

import jax.numpy as jnp

from alphafold_jax.losses._keys import lookup
from alphafold_jax.losses.config import LossConfig
from alphafold_jax.losses.violations import (
    compute_violation_metrics, find_structural_violations, violation_loss)

# Larger than any residue index of a chain, small enough that 62 chains * offset stays an
# exact float32 integer (< 2^24): the bond loss compares float residue indices.
CHAIN_OFFSET = 1 << 17


def chain_residue_index(residue_index: jnp.ndarray, asym_id: jnp.ndarray) -> jnp.ndarray:
  """[N] int32 asym_id * CHAIN_OFFSET + residue_index: unique per residue of a complex, and
  consecutive (step 1) only for neighbours of the same chain."""
  asym = jnp.round(jnp.asarray(asym_id, jnp.float32)).astype(jnp.int32)
  return asym * CHAIN_OFFSET + jnp.asarray(residue_index).astype(jnp.int32)


def _chain_indexed(batch: Mapping[str, jnp.ndarray]) -> Dict[str, jnp.ndarray]:
  get = lambda k: lookup(batch, k, what='batch')
  return {**batch, 'residue_index': chain_residue_index(get('residue_index'), get('asym_id'))}


def find_chain_aware_violations(batch: Mapping[str, jnp.ndarray],
                                atom14_pred_positions: jnp.ndarray,
                                config: LossConfig = LossConfig()) -> Dict:
  """`violations.find_structural_violations` (same nested dict) with chain-aware pairing.

  batch needs aatype [N], residue_index [N], asym_id [N], atom14_atom_exists [N, 14].
  """
  return find_structural_violations(_chain_indexed(batch), atom14_pred_positions, config)


def chain_aware_violation_metrics(batch: Mapping[str, jnp.ndarray],
                                  atom14_pred_positions: jnp.ndarray,
                                  violations: Mapping) -> Dict[str, jnp.ndarray]:
  """`violations.compute_violation_metrics` with the CA-CA metric within chains only."""
  return compute_violation_metrics(_chain_indexed(batch), atom14_pred_positions, violations)


def chain_aware_violation_loss(predictions: Mapping, batch: Mapping[str, jnp.ndarray],
                               config: LossConfig = LossConfig()) -> Tuple[jnp.ndarray, Dict]:
  """`violations.violation_loss` of a complex (predictions['structure_module']
  ['final_atom14_positions'] [N, 14, 3]) with chain-aware pairing. Returns (loss, metrics)."""
  return violation_loss(predictions, _chain_indexed(batch), config)
