"""AF2 v2.3's output layout (`run_alphafold.py`), per target in OUT/<target>/:

  features.pkl                       the raw feature dict (AF2's pickle, protocol 4)
  unrelaxed_<run>.pdb / .cif         every run <model>_pred_<i>, pLDDT in the B-factors
  confidence_<run>.json              {"residueNumber": [1..L], "confidenceScore": [pLDDT, 2 dp],
                                      "confidenceCategory": ["D"|"L"|"M"|"H"]}  (compact)
  pae_<run>.json                     [{"predicted_aligned_error": [[.. 1 dp ..]],
                                       "max_predicted_aligned_error": x}]  (PAE models only)
  result_<run>.pkl                   with save_all: every model output (distogram logits,
                                      PAE, masked-MSA logits, representations single / pair /
                                      msa / msa_first_row, ranking_confidence), cut to L
  ranked_<i>.pdb / .cif              runs in rank order, best = ranked_0
  ranking_debug.json                 {"plddts" | "ptm": {run: confidence}, "order": [runs]}
                                      (indent 4; "plddts" is AF2's monomer key, "ptm" ours
                                      for --rank-by ptm)
  timings.json                       {"features": s, "process_features_<run>": s,
                                      "predict_and_compile_<run>": s,
                                      ["predict_benchmark_<run>": s]}  (indent 4)

pLDDT categories as the AlphaFold DB: D < 50 <= L < 70 <= M < 90 <= H.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Dict, List, Mapping, Sequence

import numpy as np

from alphafold_jax.inference import outputs as outputs_lib
from data_pipeline.feature_io import write_features_pickle


def confidence_category(score: float) -> str:
  if score < 50:
    return 'D'
  if score < 70:
    return 'L'
  if score < 90:
    return 'M'
  return 'H'


def confidence_json(plddt: np.ndarray) -> str:
  """AF2 v2.3's confidence_<model>.json text for per-residue pLDDT [L]."""
  plddt = np.asarray(plddt)
  if plddt.ndim != 1:
    raise ValueError(f'pLDDT must be rank 1, got shape {plddt.shape}')
  return json.dumps({
      'residueNumber': list(range(1, len(plddt) + 1)),
      'confidenceScore': [round(float(s), 2) for s in plddt],
      'confidenceCategory': [confidence_category(float(s)) for s in plddt],
  }, indent=None, separators=(',', ':'))


def pae_json(pae: np.ndarray, max_pae: float) -> str:
  """AF2 v2.3's pae_<model>.json text (the AlphaFold DB format), PAE [L, L] angstrom."""
  rounded = np.round(np.asarray(pae, np.float64), decimals=1)
  return json.dumps([{'predicted_aligned_error': rounded.tolist(),
                      'max_predicted_aligned_error': float(max_pae)}],
                    indent=None, separators=(',', ':'))


def ranking_debug(runs: Sequence, order: Sequence[str], rank_by: str = 'plddt') -> dict:
  label = 'plddts' if rank_by == 'plddt' else rank_by
  return {label: {r.name: float(r.ranking_confidence) for r in runs}, 'order': list(order)}


def _write_text(path: str, text: str) -> None:
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text)


def write_af2_target(directory: str, sequence: str, raw_features: Mapping, runs: Sequence,
                     order: Sequence[str], timings: Mapping[str, float],
                     rank_by: str = 'plddt', save_all: bool = False) -> List[str]:
  """All AF2-layout files of one target into `directory` (created); returns file names."""
  os.makedirs(directory, exist_ok=True)
  files = []

  def put(name: str, text: str) -> None:
    _write_text(os.path.join(directory, name), text)
    files.append(name)

  write_features_pickle(dict(raw_features), os.path.join(directory, 'features.pkl'))
  files.append('features.pkl')
  pdbs: Dict[str, object] = {}
  for run in runs:
    sample = run.sample
    put(f'confidence_{run.name}.json', confidence_json(sample.plddt))
    if sample.predicted_aligned_error is not None:
      put(f'pae_{run.name}.json', pae_json(sample.predicted_aligned_error,
                                           sample.max_predicted_aligned_error))
    if save_all and run.outputs is not None:
      with open(os.path.join(directory, f'result_{run.name}.pkl'), 'wb') as f:
        pickle.dump(run.outputs, f, protocol=4)
      files.append(f'result_{run.name}.pkl')
    protein = outputs_lib.prediction_to_protein(sequence, sample)
    pdbs[run.name] = protein
    files.extend(outputs_lib.write_structure_files(directory, f'unrelaxed_{run.name}', protein))
  for i, name in enumerate(order):
    files.extend(outputs_lib.write_structure_files(directory, f'ranked_{i}', pdbs[name]))
  put('ranking_debug.json', json.dumps(ranking_debug(runs, order, rank_by), indent=4))
  put('timings.json', json.dumps({k: float(v) for k, v in timings.items()}, indent=4))
  return files
