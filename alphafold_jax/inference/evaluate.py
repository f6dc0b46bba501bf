"""Scoring a directory of predictions against a directory of references (`evaluate`).

Pairs files by name: a reference REF/NAME.{pdb,cif,mmcif,ent}[.gz] is scored against
PRED/NAME.* (case-insensitive; .pdb preferred when both exist), so the files written by
`alphafold-jax predict` (NAME.pdb, plus NAME.sample_K.* which have no reference and are
ignored) pair with references named after the FASTA records. Per target: CA-RMSD, lDDT-Ca,
TM-score and GDT-TS (and GDT-HA), computed by `metrics.scoring.score_proteins`
(first protein chain of each file; TM-score/GDT normalised by the reference length).
`format_table` renders the report with the mean over targets. References without a prediction are listed as missing; a target
that cannot be scored is reported with its error; no pair at all is an EvaluateError.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

from alphafold_jax.common.errors import UserError
from alphafold_jax.common import protein
from alphafold_jax.metrics.scoring import score_proteins

STRUCTURE_SUFFIXES = ('.pdb', '.cif', '.mmcif', '.ent')
METRICS = ('ca_rmsd', 'lddt_ca', 'tm_score', 'gdt_ts', 'gdt_ha')


class EvaluateError(UserError):
  """Bad --pred/--ref directories (one-line message)."""


def structure_stem(filename: str) -> Optional[str]:
  """'1CRN.pdb' -> '1CRN', 'x.cif.gz' -> 'x'; None for other files."""
  name = filename[:-3] if filename.lower().endswith('.gz') else filename
  for suffix in STRUCTURE_SUFFIXES:
    if name.lower().endswith(suffix) and len(name) > len(suffix):
      return name[:-len(suffix)]
  return None


def list_structures(directory: str, what: str) -> Dict[str, str]:
  """{lower-case stem: path} of the structure files in `directory` (.pdb wins over others)."""
  if not os.path.isdir(directory):
    raise EvaluateError(f'{what} directory not found: {directory}')
  found: Dict[str, str] = {}
  for filename in sorted(os.listdir(directory)):
    stem = structure_stem(filename)
    path = os.path.join(directory, filename)
    if stem is None or not os.path.isfile(path):
      continue
    key = stem.lower()
    if key not in found or filename.lower().endswith(('.pdb', '.pdb.gz')):
      found[key] = path
  return found


def evaluate_dirs(pred_dir: str, ref_dir: str, align: str = 'auto') -> dict:
  """{'targets': [per-target scores or error], 'mean': {...}, 'missing': [...], ...}."""

  preds = list_structures(pred_dir, 'prediction')
  refs = list_structures(ref_dir, 'reference')
  if not refs:
    raise EvaluateError(f'no structure files (.pdb/.cif) in reference directory {ref_dir}')
  pairs = [(key, preds[key], refs[key]) for key in sorted(refs) if key in preds]
  if not pairs:
    raise EvaluateError(
        f'no prediction in {pred_dir} has the name of a reference in {ref_dir} (references: '
        f'{", ".join(sorted(refs)[:5])}{", ..." if len(refs) > 5 else ""})')
  rows: List[dict] = []
  for _, pred_path, ref_path in pairs:
    name = structure_stem(os.path.basename(ref_path))
    row = {'name': name, 'prediction': pred_path, 'reference': ref_path}
    try:
      result = score_proteins(protein.from_file(pred_path), protein.from_file(ref_path),
                                    align)
    except ValueError as e:  # unreadable structure, too few common residues, ...
      row['error'] = ' '.join(str(e).split())
    else:
      row.update({k: result[k] for k in (*METRICS, 'aligned_residues', 'reference_length',
                                         'alignment')})
    rows.append(row)
  scored = [r for r in rows if 'error' not in r]
  mean = ({k: sum(r[k] for r in scored) / len(scored) for k in METRICS} if scored else {})
  return {
      'targets': rows,
      'mean': mean,
      'num_scored': len(scored),
      'num_failed': len(rows) - len(scored),
      'missing': sorted(structure_stem(os.path.basename(refs[k])) for k in refs
                        if k not in preds),
  }


def format_table(report: dict) -> str:
  """Fixed-width table: one line per target, then the mean."""
  header = f'{"target":<24} {"CA-RMSD":>8} {"lDDT-Ca":>8} {"TM-score":>8} {"GDT-TS":>8} {"N":>5}'
  lines = [header, '-' * len(header)]
  for row in report['targets']:
    if 'error' in row:
      lines.append(f'{row["name"]:<24} error: {row["error"]}')
    else:
      lines.append(f'{row["name"]:<24} {row["ca_rmsd"]:8.3f} {row["lddt_ca"]:8.4f} '
                   f'{row["tm_score"]:8.4f} {row["gdt_ts"]:8.4f} {row["aligned_residues"]:5d}')
  mean = report['mean']
  if mean:
    lines.append('-' * len(header))
    lines.append(f'{"mean (" + str(report["num_scored"]) + ")":<24} {mean["ca_rmsd"]:8.3f} '
                 f'{mean["lddt_ca"]:8.4f} {mean["tm_score"]:8.4f} {mean["gdt_ts"]:8.4f}')
  if report['missing']:
    lines.append(f'no prediction for: {", ".join(report["missing"])}')
  return '\n'.join(lines)


