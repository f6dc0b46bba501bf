"""Raw (unprocessed) AF2 features from a query sequence and its MSAs.

`make_raw_features(sequence, description, msas)` returns the dict AlphaFold2 v2.3 builds with
`pipeline.make_sequence_features` + `pipeline.make_msa_features` (same keys, dtypes, shapes):

  aatype                   [L, 21] int32  one-hot, AF2 residue order, unknown letters -> X
  between_segment_residues [L]     int32  zeros
  domain_name              [1]     object description as bytes
  residue_index            [L]     int32  0..L-1
  seq_length               [L]     int32  L repeated
  sequence                 [1]     object sequence as bytes
  msa                      [N, L]  int32  HHblits alphabet ids (HHBLITS_AA_TO_ID, gap = 21)
  deletion_matrix_int      [N, L]  int32
  num_alignments           [L]     int32  N repeated
  msa_species_identifiers  [N]     object UniProt species mnemonic (bytes, b'' if none)

Several MSAs are concatenated in the given order and exact duplicate rows (same aligned string)
are dropped, keeping the first occurrence, as AF2 v2.3 does.
DISCREPANCY: the alphafold-colabfold oracle comments the de-duplication out; DeepMind's AF2 v2.3
keeps it. We follow DeepMind.
"""

import re
from typing import Dict, Optional, Sequence

import numpy as np

from alphafold_jax.common import residue_constants as rc
from data_pipeline.errors import InvalidSequenceError, MsaError
from data_pipeline.parsers import Msa

FeatureDict = Dict[str, np.ndarray]

# tr|A0A146SKV9|A0A146SKV9_FUNHE  or  sp|P0C2L1|A3X1_LOXLA  (optionally _<digits> suffix).
_UNIPROT_ID = re.compile(
    r'^(?:tr|sp)\|[A-Za-z0-9]{6,10}(?:_\d)?\|[A-Za-z0-9]+_(?P<species>[A-Za-z0-9]{1,5})(?:_\d+)?$')


def _lookup_table(mapping: Dict[str, int], default: int = -1) -> np.ndarray:
  """A [256] int32 table from ASCII code to id (`default` for characters not in `mapping`)."""
  table = np.full(256, default, dtype=np.int32)
  for char, index in mapping.items():
    table[ord(char)] = index
  return table


def _ascii_codes(text: str, what: str) -> np.ndarray:
  """The ASCII codes of `text`; non-ASCII characters raise naming the character and position."""
  try:
    return np.frombuffer(text.encode('ascii'), dtype=np.uint8)
  except UnicodeEncodeError as e:
    raise InvalidSequenceError(
        f'{what} has invalid character {text[e.start]!r} at position {e.start + 1}.') from None


def sequence_to_aatype(sequence: str) -> np.ndarray:
  """Residue indices [L] in AF2 order (`restype_order_with_x`); other upper-case letters -> X.

  Raises InvalidSequenceError naming the first character that is not an upper-case letter and its
  1-based position.
  """
  codes = _ascii_codes(sequence, 'Sequence')
  table = _lookup_table(rc.restype_order_with_x)
  upper = np.arange(ord('A'), ord('Z') + 1)
  table[upper[table[upper] < 0]] = rc.restype_order_with_x['X']
  aatype = table[codes]  # [L]
  bad = np.flatnonzero(aatype < 0)
  if bad.size:
    i = int(bad[0])
    raise InvalidSequenceError(
        f'Sequence has invalid residue letter {sequence[i]!r} at position {i + 1}.')
  return aatype


def make_sequence_features(sequence: str, description: str, num_res: int) -> FeatureDict:
  """AF2's sequence features (see module docstring)."""
  if not sequence:
    raise InvalidSequenceError('Sequence is empty.')
  if num_res != len(sequence):
    raise InvalidSequenceError(f'num_res={num_res} but the sequence has {len(sequence)} residues.')
  aatype = sequence_to_aatype(sequence)
  one_hot = np.zeros((num_res, len(rc.restypes_with_x)), dtype=np.int32)  # [L, 21]
  one_hot[np.arange(num_res), aatype] = 1
  return {
      'aatype': one_hot,
      'between_segment_residues': np.zeros((num_res,), dtype=np.int32),
      'domain_name': np.array([description.encode('utf-8')], dtype=np.object_),
      'residue_index': np.arange(num_res, dtype=np.int32),
      'seq_length': np.full((num_res,), num_res, dtype=np.int32),
      'sequence': np.array([sequence.encode('utf-8')], dtype=np.object_),
  }


def species_identifier(description: str) -> str:
  """UniProt species mnemonic of an MSA row description ('' when it is not a UniProt id).

  The id is the first whitespace-separated word of the description, up to a '/' (jackhmmer
  appends /start-end), e.g. 'tr|A0A146SKV9|A0A146SKV9_FUNHE/12-80 ...' -> 'FUNHE'.
  """
  words = description.split()
  if not words:
    return ''
  match = _UNIPROT_ID.match(words[0].partition('/')[0])
  return match.group('species') if match else ''


def _msa_rows_to_ids(sequences: Sequence[str], msa_index: int, width: int) -> np.ndarray:
  """Aligned rows -> [N, L] int32 HHblits ids; a character outside the alphabet raises."""
  table = _lookup_table(rc.HHBLITS_AA_TO_ID)
  joined = ''.join(sequences)
  ids = table[_ascii_codes(joined, f'MSA {msa_index}')]
  bad = np.flatnonzero(ids < 0)
  if bad.size:
    row, col = divmod(int(bad[0]), len(sequences[0]))
    raise InvalidSequenceError(
        f'MSA {msa_index} row {row} has invalid residue letter {sequences[row][col]!r} '
        f'at column {col + 1}.')
  return ids.reshape(len(sequences), width)  # [N, L] (N may be 0: every row a duplicate)


def make_msa_features(msas: Sequence[Msa]) -> FeatureDict:
  """AF2's MSA features of several MSAs merged, duplicate rows removed (see module docstring).

  Raises MsaError when no MSA is given, an MSA is empty, or the MSAs have different widths.
  """
  if not msas:
    raise MsaError('At least one MSA must be provided.')
  num_res = None
  rows, deletions, species = [], [], []
  seen = set()
  for msa_index, msa in enumerate(msas):
    if len(msa) == 0:
      raise MsaError(f'MSA {msa_index} is empty (it must contain at least the query).')
    width = len(msa.sequences[0])
    num_res = width if num_res is None else num_res
    for row, (sequence, deletion_row) in enumerate(zip(msa.sequences, msa.deletion_matrix)):
      if len(sequence) != num_res or len(deletion_row) != num_res:
        raise MsaError(f'MSA {msa_index} row {row} has {len(sequence)} columns '
                       f'({len(deletion_row)} deletion entries); expected {num_res}.')
    keep = []
    for row, sequence in enumerate(msa.sequences):
      if sequence not in seen:
        seen.add(sequence)
        keep.append(row)
    rows.append(_msa_rows_to_ids([msa.sequences[i] for i in keep], msa_index, num_res))
    deletions.append(np.asarray([msa.deletion_matrix[i] for i in keep], dtype=np.int32)
                     .reshape(len(keep), num_res))
    species.extend(species_identifier(msa.descriptions[i]).encode('utf-8') for i in keep)
  msa_ids = np.concatenate(rows, axis=0)  # [N, L]
  return {
      'deletion_matrix_int': np.concatenate(deletions, axis=0),  # [N, L]
      'msa': msa_ids,
      'num_alignments': np.full((num_res,), msa_ids.shape[0], dtype=np.int32),
      'msa_species_identifiers': np.array(species, dtype=np.object_),
  }


def _check_query(sequence: str, msa: Msa, msa_index: int) -> None:
  """The MSA's first row must be the query sequence (ungapped, same letters)."""
  query = msa.sequences[0]
  if query != sequence:
    if len(query) != len(sequence):
      raise MsaError(f'MSA {msa_index} query row has {len(query)} columns but the sequence has '
                     f'{len(sequence)} residues.')
    i = next(i for i, (a, b) in enumerate(zip(query, sequence)) if a != b)
    raise MsaError(f'MSA {msa_index} query row does not match the sequence: position {i + 1} is '
                   f'{query[i]!r} in the MSA but {sequence[i]!r} in the sequence.')


def make_raw_features(sequence: str, description: str,
                      msas: Optional[Sequence[Msa]] = None) -> FeatureDict:
  """AF2's raw feature dict (sequence + MSA features) for one chain.

  Args:
    sequence: query amino-acid sequence (upper-case one-letter codes).
    description: name stored as `domain_name`.
    msas: parsed MSAs whose first row is `sequence`; None or [] gives the one-row
      single-sequence MSA.
  """
  sequence_features = make_sequence_features(sequence, description, len(sequence))
  if not msas:
    msas = [Msa(sequences=[sequence], deletion_matrix=[[0] * len(sequence)],
                descriptions=[description])]
  for msa_index, msa in enumerate(msas):
    if len(msa) == 0:
      raise MsaError(f'MSA {msa_index} is empty (it must contain at least the query).')
    _check_query(sequence, msa, msa_index)
  return {**sequence_features, **make_msa_features(msas)}
