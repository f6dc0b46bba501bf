"""`alphafold-jax score MODEL REFERENCE`: compare a model with a reference structure.

    alphafold-jax score model.pdb reference.cif [--model-chain A] [--ref-chain B] [--json]
                        [--align auto|index|sequence]

Reads one chain of each file (PDB or mmCIF; default: the first protein chain) and
prints, like Zhang's TM-score program, the CA-RMSD after Kabsch superposition, the
TM-score and GDT-TS/GDT-HA (best superposition found by a seeded search), and lDDT-Ca
(superposition-free). TM-score and GDT are normalised by the reference length (its
residues with a CA atom); RMSD and lDDT-Ca are over the residues in common.

Residue correspondence (`--align`):
  index     same author residue number (and insertion code), as the TM-score program;
  sequence  global Needleman-Wunsch alignment of the two sequences (identity scoring);
  auto      (default) by residue number when the numbered pairs cover at least half of
            the shorter chain with >= 90% identical residue types, else by sequence.
The method used is printed (`aligned by`) and in the JSON (`alignment`).

Registration: `register(subparsers)` adds the subcommand; `run(args)` executes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

import numpy as np

_CA = 1  # atom37 index of CA
_UNK = 20


class ScoreError(ValueError):
  """User-facing problem with the inputs of `score` (one-line message)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('model', metavar='MODEL', help='model structure (PDB or mmCIF)')
  parser.add_argument('reference', metavar='REFERENCE',
                      help='reference structure (PDB or mmCIF); scores are normalised by it')
  parser.add_argument('--model-chain', default=None,
                      help='chain of MODEL (default: first protein chain)')
  parser.add_argument('--ref-chain', default=None,
                      help='chain of REFERENCE (default: first protein chain)')
  parser.add_argument('--align', choices=('auto', 'index', 'sequence'), default='auto',
                      help='residue correspondence (default: auto)')
  parser.add_argument('--json', action='store_true', help='print machine-readable JSON')


def register(subparsers) -> argparse.ArgumentParser:
  """Adds `score` to an argparse subparsers object; sets func=run."""
  parser = subparsers.add_parser('score',
                                 help='compare a model with a reference (RMSD, TM, GDT, lDDT)',
                                 description=__doc__.split('\n\n')[0])
  add_arguments(parser)
  parser.set_defaults(func=run)
  return parser


# ---- residue correspondence ------------------------------------------------------

def align_by_index(model, reference) -> tuple[np.ndarray, np.ndarray]:
  """Pairs (model_idx, ref_idx) with equal residue number + insertion code."""
  def keys(p):
    codes = p.insertion_codes if p.insertion_codes is not None else [''] * p.num_residues
    return [(int(r), str(c)) for r, c in zip(p.residue_index, codes)]
  ref_pos = {k: i for i, k in enumerate(keys(reference))}
  pairs = [(i, ref_pos[k]) for i, k in enumerate(keys(model)) if k in ref_pos]
  if not pairs:
    return np.zeros(0, int), np.zeros(0, int)
  a, b = zip(*pairs)
  return np.asarray(a), np.asarray(b)


def needleman_wunsch(seq_a: np.ndarray, seq_b: np.ndarray, match: float = 2.,
                     mismatch: float = -1., gap: float = -2.) -> tuple[np.ndarray, np.ndarray]:
  """Global alignment of integer sequences (linear gaps). Returns aligned index pairs.

  Row-vectorised: within a row, H[i, j] = max(c_j, H[i, j-1] + gap) is solved with a
  cumulative max, H[i, j] = j*gap + cummax_k<=j (c_k - k*gap).
  """
  n, m = len(seq_a), len(seq_b)
  h = np.zeros((n + 1, m + 1))
  h[0] = gap * np.arange(m + 1)
  h[:, 0] = gap * np.arange(n + 1)
  jj = np.arange(m + 1) * gap
  for i in range(1, n + 1):
    sub = np.where((seq_a[i - 1] == seq_b) & (seq_b != _UNK), match, mismatch)  # [m]
    cand = np.empty(m + 1)
    cand[0] = h[i, 0]
    cand[1:] = np.maximum(h[i - 1, :-1] + sub, h[i - 1, 1:] + gap)
    h[i] = jj + np.maximum.accumulate(cand - jj)
  # traceback
  pairs = []
  i, j = n, m
  while i > 0 and j > 0:
    s = match if (seq_a[i - 1] == seq_b[j - 1] and seq_b[j - 1] != _UNK) else mismatch
    if np.isclose(h[i, j], h[i - 1, j - 1] + s):
      pairs.append((i - 1, j - 1))
      i, j = i - 1, j - 1
    elif np.isclose(h[i, j], h[i - 1, j] + gap):
      i -= 1
    else:
      j -= 1
  pairs.reverse()
  if not pairs:
    return np.zeros(0, int), np.zeros(0, int)
  a, b = zip(*pairs)
  return np.asarray(a), np.asarray(b)


def correspond(model, reference, method: str = 'auto') -> tuple[np.ndarray, np.ndarray, str]:
  """(model indices, reference indices, method used) of corresponding residues."""
  if method not in ('auto', 'index', 'sequence'):
    raise ScoreError(f'unknown alignment method {method!r} (auto, index or sequence)')
  if method in ('auto', 'index'):
    a, b = align_by_index(model, reference)
    if method == 'index':
      return a, b, 'residue_index'
    shorter = min(model.num_residues, reference.num_residues)
    identity = float(np.mean(model.aatype[a] == reference.aatype[b])) if len(a) else 0.
    if len(a) >= 0.5 * shorter and identity >= 0.9:
      return a, b, 'residue_index'
  a, b = needleman_wunsch(np.asarray(model.aatype), np.asarray(reference.aatype))
  return a, b, 'sequence'


# ---- scoring ---------------------------------------------------------------------

def score_proteins(model, reference, align: str = 'auto') -> dict:
  """All scores of `model` against `reference` (Protein objects) as a dict."""
  # Imported here so that building the CLI parser does not import jax.
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.metrics import gdt_fractions, lddt, rmsd, tm_d0, tm_score
  from alphafold_jax.metrics.gdt import GDT_HA_CUTOFFS, GDT_TS_CUTOFFS
  # pylint: enable=import-outside-toplevel

  a, b, method = correspond(model, reference, align)
  both = (model.atom_mask[a, _CA] > 0) & (reference.atom_mask[b, _CA] > 0)
  a, b = a[both], b[both]
  ref_length = int(np.sum(reference.atom_mask[:, _CA] > 0))
  if len(a) < 3:
    raise ScoreError(f'only {len(a)} residues with CA atoms in common (aligned by {method}); '
                     'need at least 3 (try --align sequence or check the chains)')
  pred = model.atom_positions[a, _CA].astype(np.float64)  # [N, 3]
  ref = reference.atom_positions[b, _CA].astype(np.float64)  # [N, 3]
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


def format_report(result: dict, model_path: str, ref_path: str, model_chain: str,
                  ref_chain: str) -> str:
  """Human-readable report in the spirit of the TM-score program."""
  f = result['gdt_fractions']
  return '\n'.join([
      f"Model:      {model_path} (chain {model_chain}, {result['model_length']} residues)",
      f"Reference:  {ref_path} (chain {ref_chain}, {result['reference_length']} residues "
      'with CA; TM-score and GDT are normalised by this length)',
      f"Common:     {result['aligned_residues']} residues, aligned by {result['alignment']} "
      f"(sequence identity {result['sequence_identity']:.3f})",
      '',
      f"CA-RMSD   = {result['ca_rmsd']:.3f} A   (common residues, after superposition)",
      f"TM-score  = {result['tm_score']:.4f}    (d0 = {result['tm_d0']:.2f} A)",
      f"GDT-TS    = {result['gdt_ts']:.4f}    (d<1 {f['d<1']:.4f}, d<2 {f['d<2']:.4f}, "
      f"d<4 {f['d<4']:.4f}, d<8 {f['d<8']:.4f})",
      f"GDT-HA    = {result['gdt_ha']:.4f}",
      f"lDDT-Ca   = {result['lddt_ca']:.4f}    (15 A inclusion radius, common residues)",
  ])


def run(args: argparse.Namespace) -> int:
  """Executes `score`; returns the exit code. Input problems raise ValueError subclasses."""
  from alphafold_jax.common import protein  # pylint: disable=import-outside-toplevel

  model = protein.from_file(args.model, chain_id=args.model_chain)
  reference = protein.from_file(args.reference, chain_id=args.ref_chain)
  result = score_proteins(model, reference, args.align)
  if args.json:
    result.update(model=str(args.model), reference=str(args.reference),
                  model_chain=model.chain_id, reference_chain=reference.chain_id)
    print(json.dumps(result, indent=2))
  else:
    print(format_report(result, args.model, args.reference, model.chain_id, reference.chain_id))
  return 0


def main(argv: Optional[list] = None) -> int:
  """Standalone entry (python -m alphafold_jax.inference.score)."""
  from alphafold_jax.inference import cli  # pylint: disable=import-outside-toplevel
  return cli.main(['score', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
  sys.exit(main())
