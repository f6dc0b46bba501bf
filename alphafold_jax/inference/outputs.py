"""Prediction outputs: structures with pLDDT B-factors, confidence/ranking JSON, atomic writes.

Files written per target NAME (`write_target`):
  NAME.pdb, NAME.cif          best sample; chain A, residues numbered 1..L, pLDDT in the
                              B-factor column of every atom (PDB: TER + END; mmCIF with
                              entity/poly_seq categories, readable by Biopython/PyMOL/ChimeraX)
  NAME.confidence.json        per-residue pLDDT, mean pLDDT, and for PAE models the PAE
                              matrix, max PAE and pTM (see `confidence_json`); the chemical
                              sanity of the structure (`structure_checks`):
                                "geometry": peptide C-N lengths and consecutive CA-CA
                                  distances (metrics/backbone_geometry.py: c_n_median_abs_deviation,
                                  c_n_max, c_n_over_1_8 (+ _positions), ca_ca_min, ca_ca_max,
                                  ca_ca_outside_3_6_4_0 (+ _positions; cis-prolines excluded),
                                  cis_proline_positions, c_n_bonds, ca_ca_pairs)
                                "violations": AF2's structural-violation check computed with our
                                  violation functions (metrics/structural_violations.py):
                                  num_residue_violations (bond + clash + within-residue, AF2
                                  relax's count), residue_violations, num_between_residue_bond,
                                  num_between_residue_clash, num_within_residue and AF2's metrics
                                  violations_between_residue_bond / _clash, violations_within_residue,
                                  violations_per_residue, violations_extreme_ca_ca_distance
                                  (fractions), violations_ca_chirality; for chains longer than
                                  MAX_VIOLATION_RESIDUES: {"skipped": reason}
                              Positions are zero-based residue indices (pairs: the first residue).
  NAME.ranking.json           every sample (seed, mean pLDDT, pTM) and the order, best first
  NAME.plddt.png, NAME.pae.png   plots (plots.py; the PAE plot only for PAE models)
  NAME.sample_K.pdb / .cif / .confidence.json   every sample K, when there are several
pLDDT is rounded to 0.01 once; the same numbers go to the JSON and the B-factors, so a
B-factor read back from the PDB equals the JSON value.

Run directories: `output_dir.OutputDir` (checked before any work, target by target).
Atomicity: `atomic_output_dir(out)` yields an empty temporary directory next to `out`;
only when the block finishes without error are its files moved into `out` (created if
needed); on any error the temporary directory is deleted and `out` is untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Iterator, List, Optional, Sequence

import numpy as np

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.metrics.backbone_geometry import backbone_geometry
from alphafold_jax.metrics.structural_violations import violation_report
from data_pipeline.raw_features import sequence_to_aatype

CHAIN_ID = 'A'
MAX_VIOLATION_RESIDUES = 1500  # the clash check holds [L, L, 14, 14]: ~1.3 GB, ~10 s at 1000


def round_plddt(plddt: np.ndarray) -> np.ndarray:
  """pLDDT [L] rounded to 0.01 (the precision of the PDB B-factor column)."""
  return np.round(np.asarray(plddt, np.float64), 2)


def prediction_to_protein(sequence: str, sample, chain_id: str = CHAIN_ID) -> protein_lib.Protein:
  """Protein (atom37) of a predicted sample; every atom's B-factor is its residue's pLDDT."""
  n = len(sequence)
  positions = np.asarray(sample.final_atom_positions, np.float32)  # [L, 37, 3]
  mask = np.asarray(sample.final_atom_mask, np.float32)  # [L, 37]
  if positions.shape != (n, 37, 3) or mask.shape != (n, 37):
    raise ValueError(f'prediction shapes {positions.shape}, {mask.shape} do not fit a '
                     f'sequence of {n} residues')
  plddt = round_plddt(sample.plddt)  # [L]
  return protein_lib.Protein(
      aatype=sequence_to_aatype(sequence), atom_positions=positions, atom_mask=mask,
      residue_index=np.arange(1, n + 1, dtype=np.int32), chain_id=chain_id,
      b_factors=plddt[:, None] * (mask > 0.5))  # [L, 37]


def structure_checks(protein: protein_lib.Protein) -> dict:
  """{'geometry': backbone figures, 'violations': AF2's violation report} of one chain."""
  args = (protein.aatype, protein.atom_positions, protein.atom_mask, protein.residue_index)
  if protein.num_residues > MAX_VIOLATION_RESIDUES:
    violations = {'skipped': f'{protein.num_residues} residues > {MAX_VIOLATION_RESIDUES}: the '
                             'clash check needs O(L^2) memory'}
  else:
    violations = violation_report(*args)
  return {'geometry': backbone_geometry(protein.atom_positions, protein.atom_mask,
                                        protein.aatype, protein.residue_index),
          'violations': violations}


def _round(x: Optional[float], digits: int = 4) -> Optional[float]:
  return None if x is None else round(float(x), digits)


def confidence_json(name: str, sequence: str, sample, extra: Optional[dict] = None) -> dict:
  """Confidence summary of one sample (AF2 output key names where they exist)."""
  plddt = round_plddt(sample.plddt)
  out = {
      'name': name,
      'sequence': sequence,
      'seed': int(sample.seed),
      'num_recycles': int(sample.num_recycles),
      'plddt': [float(v) for v in plddt],
      'mean_plddt': mean_plddt(sample),
  }
  if sample.predicted_aligned_error is not None:
    pae = np.round(np.asarray(sample.predicted_aligned_error, np.float64), 2)  # [L, L]
    out['predicted_aligned_error'] = pae.tolist()
    out['max_predicted_aligned_error'] = _round(sample.max_predicted_aligned_error, 2)
  if sample.ptm is not None:
    out['ptm'] = _round(sample.ptm)
  out.update(extra or {})
  return out


def ranking_json(result, sample_stems: Sequence[str]) -> dict:
  """Every sample of a target and their order (best first) by mean pLDDT."""
  samples = []
  for k, sample in enumerate(result.samples):
    entry = {'sample': k, 'seed': int(sample.seed), 'file': f'{sample_stems[k]}.pdb',
             'mean_plddt': mean_plddt(sample)}
    if sample.ptm is not None:
      entry['ptm'] = _round(sample.ptm)
    samples.append(entry)
  return {
      'name': result.target.name,
      'ranking_metric': 'mean_plddt',
      'order': [int(k) for k in result.ranking],  # sample indices, best first
      'best_sample': int(result.ranking[0]),
      'samples': samples,
  }


def mean_plddt(sample) -> float:
  """Mean of the rounded pLDDT (the number every output file reports)."""
  return round(float(np.mean(round_plddt(sample.plddt))), 2)


def json_safe(value):
  """`value` with every non-finite float (NaN, inf) replaced by None: JSON has no NaN."""
  if isinstance(value, float) or isinstance(value, np.floating):
    return float(value) if np.isfinite(value) else None
  if isinstance(value, dict):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  if isinstance(value, np.ndarray):
    return json_safe(value.tolist())
  if isinstance(value, np.integer):
    return int(value)
  return value


def write_json(path: str, data: dict) -> None:
  """One top-level key per line, each value compact (PAE rows stay short files).

  Non-finite numbers are written as null (`json_safe`), never as the invalid `NaN`.
  """
  data = json_safe(data)
  items = [f' {json.dumps(key)}: {json.dumps(value, separators=(",", ":"), allow_nan=False)}'
           for key, value in data.items()]
  with open(path, 'w', encoding='utf-8') as f:
    f.write('{\n' + ',\n'.join(items) + '\n}\n')


def write_structure_files(directory: str, stem: str, protein: protein_lib.Protein) -> List[str]:
  """STEM.pdb and STEM.cif; returns the file names."""
  with open(os.path.join(directory, f'{stem}.pdb'), 'w', encoding='utf-8') as f:
    f.write(protein_lib.to_pdb(protein))
  with open(os.path.join(directory, f'{stem}.cif'), 'w', encoding='utf-8') as f:
    f.write(protein_lib.to_mmcif(protein, entry_id=stem))
  return [f'{stem}.pdb', f'{stem}.cif']


def write_target(directory: str, result, extra: Optional[dict] = None,
                 plots: bool = True) -> List[str]:
  """All files of one TargetResult (see module docstring); returns the file names."""
  target = result.target
  name = target.name
  several = len(result.samples) > 1
  stems = [f'{name}.sample_{k}' if several else name for k in range(len(result.samples))]
  files = []

  def write_sample(stem: str, sample, rank: int) -> None:
    protein = prediction_to_protein(target.sequence, sample)
    files.extend(write_structure_files(directory, stem, protein))
    info = {'rank': rank, 'bucket': int(sample.bucket), **(extra or {}),
            **structure_checks(protein)}
    write_json(os.path.join(directory, f'{stem}.confidence.json'),
               confidence_json(name, target.sequence, sample, info))
    files.append(f'{stem}.confidence.json')

  rank_of = {k: r for r, k in enumerate(result.ranking)}
  if several:
    for k, sample in enumerate(result.samples):
      write_sample(stems[k], sample, rank_of[k])
  write_sample(name, result.best, 0)
  write_json(os.path.join(directory, f'{name}.ranking.json'), ranking_json(result, stems))
  files.append(f'{name}.ranking.json')
  if plots:
    from alphafold_jax.inference import plots as plots_lib  # pylint: disable=import-outside-toplevel
    files.extend(plots_lib.write_plots(directory, name, result.best, title=name))
  return files


@contextlib.contextmanager
def atomic_output_dir(out_dir: str) -> Iterator[str]:
  """Yields a temporary directory whose files land in `out_dir` only if the block succeeds."""
  out_dir = os.path.abspath(os.fspath(out_dir))
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise FileExistsError(f'output path {out_dir} exists and is not a directory')
  anchor = os.path.dirname(out_dir)  # nearest existing ancestor: same filesystem, no mkdirs yet
  while not os.path.isdir(anchor):
    anchor = os.path.dirname(anchor)
  tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(out_dir)}.tmp-{os.getpid()}-', dir=anchor)
  try:
    yield tmp
    _move_into_place(tmp, out_dir)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def _move_into_place(tmp: str, out_dir: str) -> None:
  if not os.path.exists(out_dir):
    os.makedirs(os.path.dirname(out_dir), exist_ok=True)
    os.rename(tmp, out_dir)  # the whole directory appears at once
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(out_dir, 0o777 & ~umask)  # mkdtemp made it private (0700)
    return
  for name in sorted(os.listdir(tmp)):
    os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
