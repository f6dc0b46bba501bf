"""Kalign realignment of a hit's sequence to the sequence actually in the mmCIF file.

When the hit's ungapped sequence (from pdb70 / pdb_seqres) is not found in the template mmCIF's
SEQRES (a newer or older version of the entry), AF2 v2.3 aligns the two with kalign, maps the
query->hit mapping through that alignment, and rejects the hit when fewer than 90 % of the
shorter sequence's residues are identical in the alignment.

Aligners: `kalign_align(sequences)` uses the PyPI package `kalign-python` (import `kalign`) when
installed, else a `kalign` binary found on PATH (the tool AF2 calls, v2.04 there); neither gives
a TemplateError. DISCREPANCY: kalign-python is Kalign 3, AF2 calls Kalign 2; on sequences 90 %
identical (the only case that passes the check) both give the same gap-free or near gap-free
alignment in our tests, but they are different programs.
"""

import os
import shutil
import subprocess
import tempfile
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

from data_pipeline.errors import TemplateError
from data_pipeline.templates.mmcif import TemplateMmcif

Aligner = Callable[[Sequence[str]], List[str]]


class RealignError(Exception):
  """The hit cannot be realigned to its mmCIF chain (the hit is skipped, not an input error)."""


def _kalign_binary(sequences: Sequence[str], binary: str) -> List[str]:
  with tempfile.TemporaryDirectory() as tmp:
    inp, out = os.path.join(tmp, 'in.fasta'), os.path.join(tmp, 'out.fasta')
    with open(inp, 'w') as f:
      f.write(''.join(f'>seq{i}\n{s}\n' for i, s in enumerate(sequences)))
    result = subprocess.run([binary, '-i', inp, '-o', out, '-format', 'fasta'],
                            capture_output=True, text=True, check=False)
    if result.returncode:
      raise RealignError(f'kalign failed: {result.stderr.strip()[-200:]}')
    with open(out) as f:
      records = f.read().split('>')[1:]
  return [''.join(r.split('\n', 1)[1].split()) for r in records]


def kalign_align(sequences: Sequence[str]) -> List[str]:
  """Aligned (gapped, same length) strings of `sequences`, in input order."""
  for s in sequences:
    if len(s) < 6:
      raise RealignError(f'kalign needs sequences of at least 6 residues, got {s!r}')
  try:
    import kalign  # pylint: disable=import-outside-toplevel
  except ImportError:
    kalign = None
  if kalign is not None:
    return list(kalign.align(list(sequences), seq_type='protein', n_threads=1))
  binary = shutil.which('kalign')
  if binary is None:
    raise TemplateError('template realignment needs kalign: pip install kalign-python==3.6.0 '
                        'or put a kalign binary on PATH')
  return _kalign_binary(sequences, binary)


def realign_to_mmcif(old_template_sequence: str, chain_id: str, mmcif: TemplateMmcif,
                     old_mapping: Mapping[int, int], aligner: Aligner = kalign_align
                     ) -> Tuple[str, Dict[int, int]]:
  """(mmCIF chain sequence, query index -> index in it); RealignError when < 90 % identical.

  A chain id missing from the mmCIF is tolerated when the file has a single protein chain.
  Query residues whose old hit residue has no partner in the new sequence map to -1.
  """
  new_sequence = mmcif.chain_to_seqres.get(chain_id, '')
  if not new_sequence:
    if len(mmcif.chain_to_seqres) != 1:
      raise RealignError(f'chain {chain_id} not found in {mmcif.file_id} (chains: '
                         f'{", ".join(mmcif.chain_to_seqres)})')
    new_sequence = next(iter(mmcif.chain_to_seqres.values()))
  try:
    old_aligned, new_aligned = aligner([old_template_sequence, new_sequence])
  except RealignError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise RealignError(f'could not align {mmcif.file_id}_{chain_id}: {e}') from None
  old_to_new: Dict[int, int] = {}
  old_i = new_i = -1
  same = 0
  for a, b in zip(old_aligned, new_aligned):  # [alignment columns]
    old_i += a != '-'
    new_i += b != '-'
    if a != '-' and b != '-':
      old_to_new[old_i] = new_i
      same += a == b
  if same / min(len(old_template_sequence), len(new_sequence)) < 0.9:
    raise RealignError(f'hit sequence and {mmcif.file_id}_{chain_id} SEQRES are less than 90 % '
                       'identical')
  mapping = {q: old_to_new.get(t, -1) for q, t in old_mapping.items()}
  return new_sequence.replace('-', ''), mapping
