"""Custom templates: a folder of PDB/mmCIF files -> AF2 template features, no database needed.

ColabFold's `--custom-template-path` and OpenFold's `--use_custom_template`: every structure file
in the folder (`*.pdb`, `*.ent`, `*.cif`, `*.mmcif`, optionally `.gz`; sorted by name) is one
template. Its first protein chain (first model; reading rules of
`alphafold_jax.common.structure_io`) is aligned to the query by a GLOBAL pairwise alignment
(Needleman-Wunsch, Biopython `PairwiseAligner`, BLOSUM62, gap open -10, gap extend -0.5, end
gaps free), and each aligned query position receives the template residue's atoms.
No date, duplicate or length filter is applied: the user chose these files.

Features as features.py (`template_domain_names` = b'<file stem>_<chain>', `template_sum_probs`
= fraction of query residues aligned to an identical template residue, so the model's
top-`max_templates` cut keeps the closest files: templates are returned in decreasing
identity, file-name order among equals).

Errors (`TemplateError`, one line naming the file): folder missing or empty, a file that is not
a readable protein structure (e.g. a ligand-only or DNA file, or plain text), a template with no
aligned residue.
"""

import os
from typing import Dict, List, Tuple

import numpy as np
from Bio import Align
from Bio.Align import substitution_matrices

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.common import residues
from alphafold_jax.common.structure_io import StructureError, parse_chain, read_structure_text
from data_pipeline.errors import TemplateError
from data_pipeline.templates.features import TEMPLATE_FEATURES

STRUCTURE_SUFFIXES = ('.pdb', '.ent', '.cif', '.mmcif', '.pdb.gz', '.ent.gz', '.cif.gz',
                      '.mmcif.gz')


def _aligner() -> Align.PairwiseAligner:
  aligner = Align.PairwiseAligner()
  aligner.mode = 'global'
  aligner.substitution_matrix = substitution_matrices.load('BLOSUM62')
  aligner.open_gap_score = -10.0
  aligner.extend_gap_score = -0.5
  aligner.end_insertion_score = 0.0  # free end gaps (Biopython >= 1.86 names)
  aligner.end_deletion_score = 0.0
  return aligner


def global_alignment_mapping(query: str, template: str) -> Dict[int, int]:
  """query index -> template index of the aligned (non-gap) pairs of a global alignment."""
  safe = lambda s: ''.join(c if c in residues.restypes else 'X' for c in s)
  alignment = _aligner().align(safe(query), safe(template))[0]
  mapping = {}
  for (q0, q1), (t0, t1) in zip(*alignment.aligned):
    for offset in range(q1 - q0):
      mapping[q0 + offset] = t0 + offset
  return mapping


def list_template_files(folder: str) -> List[str]:
  if not os.path.isdir(folder):
    raise TemplateError(f'{folder}: template folder not found')
  files = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                 if not f.startswith('.') and os.path.isfile(os.path.join(folder, f)))
  if not files:
    raise TemplateError(f'{folder}: template folder is empty')
  return files


def read_template_chain(path: str) -> dict:
  """The first protein chain of a template file (structure_io arrays); TemplateError if none."""
  if not path.lower().endswith(STRUCTURE_SUFFIXES):
    raise TemplateError(f'{path}: not a PDB/mmCIF file (expected one of '
                        f'{", ".join(STRUCTURE_SUFFIXES)})')
  try:
    text, fmt = read_structure_text(path)
    return parse_chain(text, fmt, source=path)
  except StructureError as e:
    raise TemplateError(f'custom template {e}') from None


def check_template_folder(folder: str) -> None:
  """Reads every file of the folder (before any search runs); TemplateError on the first bad one."""
  for path in list_template_files(folder):
    read_template_chain(path)


def _template(path: str, query: str) -> Tuple[Dict[str, object], str]:
  chain = read_template_chain(path)
  aatype = chain['aatype']  # [N]
  sequence = ''.join(residues.restypes_with_x[a] for a in aatype)
  mapping = global_alignment_mapping(query, sequence)
  if not mapping:
    raise TemplateError(f'{path}: no residue of chain {chain["chain_id"]} aligns to the query')
  num_res = len(query)
  positions = np.zeros((num_res, rc.atom_type_num, 3), np.float32)  # [L, 37, 3]
  masks = np.zeros((num_res, rc.atom_type_num), np.float32)  # [L, 37]
  letters = ['-'] * num_res
  q_idx = np.fromiter(mapping.keys(), int)
  t_idx = np.fromiter(mapping.values(), int)
  positions[q_idx] = chain['atom_positions'][t_idx]
  masks[q_idx] = chain['atom_mask'][t_idx]
  for q, t in mapping.items():
    letters[q] = sequence[t]
  aligned = ''.join(letters)
  one_hot = np.zeros((num_res, len(rc.restypes_with_x_and_gap)), np.float32)  # [L, 22]
  one_hot[np.arange(num_res), [rc.HHBLITS_AA_TO_ID[c] for c in aligned]] = 1
  identity = sum(query[q] == sequence[t] for q, t in mapping.items()) / num_res
  stem = os.path.basename(path).split('.')[0]
  name = f'{stem}_{chain["chain_id"]}'
  return {
      'template_aatype': one_hot,
      'template_all_atom_positions': positions,
      'template_all_atom_masks': masks,
      'template_sequence': aligned.encode(),
      'template_domain_names': name.encode(),
      'template_sum_probs': [identity],
  }, name


def custom_template_features(folder: str, query_sequence: str
                             ) -> Tuple[Dict[str, np.ndarray], List[str]]:
  """(template features [T, L, ...], names) of every structure file in `folder`."""
  features = [_template(path, query_sequence) for path in list_template_files(folder)]
  # Most identical first (stable: file-name order among equals).
  features.sort(key=lambda item: -item[0]['template_sum_probs'][0])
  out = {k: np.stack([f[k] for f, _ in features]).astype(dtype)
         for k, dtype in TEMPLATE_FEATURES.items()}
  return out, [name for _, name in features]
