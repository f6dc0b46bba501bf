"""`alphafold-jax score MODEL REFERENCE`: compare a model with a reference structure.

    alphafold-jax score model.pdb reference.cif [--model-chain A] [--ref-chain B] [--json]
                        [--align auto|index|sequence]

Reads one chain of each file (PDB or mmCIF; default: the first protein chain) and
prints, like Zhang's TM-score program, the CA-RMSD after Kabsch superposition, the
TM-score and GDT-TS/GDT-HA (best superposition found by a seeded search), and lDDT-Ca
(superposition-free). TM-score and GDT are normalised by the reference length (its
residues with a CA atom); RMSD and lDDT-Ca are over the residues in common.

Residue correspondence (`--align`, metrics/sequence_alignment.py): index (author residue
numbers), sequence (global alignment) or auto (default). The method used is printed (`aligned by`) and in the JSON (`alignment`).

Registration: `register(subparsers)` adds the subcommand; `run(args)` executes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from alphafold_jax.common import protein
from alphafold_jax.metrics.scoring import ScoreError, score_proteins  # noqa: F401 (re-export)


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


def _read(path: str, chain: Optional[str], role: str) -> protein.Protein:
  """One chain of a structure file; errors say which of the two files (MODEL/REFERENCE)."""
  try:
    return protein.from_file(path, chain_id=chain)
  except protein.StructureError as e:
    raise protein.StructureError(f'{role} {e}') from None


def run(args: argparse.Namespace) -> int:
  """Executes `score`; returns the exit code. Input problems raise ValueError subclasses."""
  model = _read(args.model, args.model_chain, 'MODEL')
  reference = _read(args.reference, args.ref_chain, 'REFERENCE')
  result = score_proteins(model, reference, args.align)
  if args.json:
    from alphafold_jax.inference.outputs import json_safe  # pylint: disable=import-outside-toplevel
    result.update(model=str(args.model), reference=str(args.reference),
                  model_chain=model.chain_id, reference_chain=reference.chain_id)
    print(json.dumps(json_safe(result), indent=2, allow_nan=False))
  else:
    print(format_report(result, args.model, args.reference, model.chain_id, reference.chain_id))
  return 0


def main(argv: Optional[list] = None) -> int:
  """Standalone entry (python -m alphafold_jax.cli.score)."""
  from alphafold_jax import cli  # pylint: disable=import-outside-toplevel
  return cli.main(['score', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
  sys.exit(main())
