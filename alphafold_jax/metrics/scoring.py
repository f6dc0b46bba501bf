"""All scores of a model against a reference structure, as the `score` command prints them.

CA-RMSD after Kabsch superposition, TM-score and GDT-TS/GDT-HA (best superposition found by a
seeded search), normalised by the reference length (its residues with a CA atom), and lDDT-Ca
(superposition-free) over the residues in common (`sequence_alignment.correspond`).
"""

from __future__ import annotations

import numpy as np

from alphafold_jax.common.errors import UserError
from alphafold_jax.metrics.gdt import GDT_HA_CUTOFFS, GDT_TS_CUTOFFS, gdt_fractions
from alphafold_jax.metrics.lddt import lddt
from alphafold_jax.metrics.rmsd import rmsd
from alphafold_jax.metrics.sequence_alignment import correspond
from alphafold_jax.metrics.tm_score import tm_d0, tm_score

_CA = 1  # atom37 index of CA


class ScoreError(UserError):
  """Two structures cannot be scored against each other."""


def score_proteins(model, reference, align: str = 'auto') -> dict:
  """All scores of `model` against `reference` (Protein objects) as a dict."""
  a, b, method = correspond(model, reference, align)
  both = (model.atom_mask[a, _CA] > 0) & (reference.atom_mask[b, _CA] > 0)
  a, b = a[both], b[both]
  ref_length = int(np.sum(reference.atom_mask[:, _CA] > 0))
  if len(a) < 3:
    raise ScoreError(f'only {len(a)} residues with CA atoms in common (aligned by {method}); '
                     'need at least 3 (try --align sequence or check the chains)')
  pred = model.atom_positions[a, _CA].astype(np.float64)  # [N, 3]
  ref = reference.atom_positions[b, _CA].astype(np.float64)  # [N, 3]
  if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(ref))):
    raise ScoreError('non-finite CA coordinates in the ' +
                     ('model' if not np.all(np.isfinite(pred)) else 'reference'))
  # Every score is invariant to translating either structure: centre each in float64 first so
  # far-off coordinates (up to the reader's 1e5 A bound) lose no precision in float32 maths.
  pred = pred - pred.mean(axis=0)
  ref = ref - ref.mean(axis=0)
  ones = np.ones(len(a), bool)
  tm = tm_score(pred, ref, ones, norm_length=ref_length)
  ts = gdt_fractions(pred, ref, ones, GDT_TS_CUTOFFS, norm_length=ref_length)
  ha = gdt_fractions(pred, ref, ones, GDT_HA_CUTOFFS, norm_length=ref_length)
  return {
      'model_length': int(model.num_residues),
      'reference_length': ref_length,
      'aligned_residues': int(len(a)),
      'alignment': method,
      'sequence_identity': float(np.mean(model.aatype[a] == reference.aatype[b])),
      'ca_rmsd': float(rmsd(pred.astype(np.float32), ref.astype(np.float32))),
      'tm_score': float(tm),
      'tm_d0': float(tm_d0(ref_length)),
      'gdt_ts': float(np.mean(ts)),
      'gdt_ha': float(np.mean(ha)),
      'gdt_fractions': {f'd<{c:g}': float(v) for c, v in zip(GDT_TS_CUTOFFS, ts)},
      'lddt_ca': float(lddt(pred.astype(np.float32), ref.astype(np.float32))),
  }
