"""Parsers for sequence and alignment files: FASTA, A3M and Stockholm.

The parsed MSA is an `Msa(sequences, deletion_matrix, descriptions)` with the same meaning as
AlphaFold2's `alphafold.data.parsers.Msa`:

  sequences[i]          aligned row i, one character per query residue ('-' = gap); row 0 is
                        the query.
  deletion_matrix[i][j] number of residues of row i deleted (inserted relative to the query)
                        immediately before query column j.
  descriptions[i]       the row's header line (A3M) or name (Stockholm).

Bad input raises `data_pipeline.errors.ParseError` (a ValueError) naming the record / row.
"""

import dataclasses
from typing import List, Sequence, Tuple

import numpy as np

from data_pipeline.errors import MsaError, ParseError

_GAP_CHARS = '-.'
_ASCII_LOWER = np.zeros(256, dtype=bool)
_ASCII_LOWER[ord('a'):ord('z') + 1] = True


@dataclasses.dataclass(frozen=True)
class Msa:
  """A parsed multiple sequence alignment (row 0 is the query)."""
  sequences: Sequence[str]
  deletion_matrix: Sequence[Sequence[int]]
  descriptions: Sequence[str]

  def __post_init__(self):
    if not len(self.sequences) == len(self.deletion_matrix) == len(self.descriptions):
      raise MsaError(
          f'Msa fields differ in length: {len(self.sequences)} sequences, '
          f'{len(self.deletion_matrix)} deletion rows, {len(self.descriptions)} descriptions.')

  def __len__(self) -> int:
    return len(self.sequences)

  def truncate(self, max_seqs: int) -> 'Msa':
    """The first `max_seqs` rows (the query is row 0)."""
    return Msa(sequences=self.sequences[:max_seqs],
               deletion_matrix=self.deletion_matrix[:max_seqs],
               descriptions=self.descriptions[:max_seqs])


def parse_fasta(fasta_string: str) -> Tuple[List[str], List[str]]:
  """Parses a (multi-record) FASTA string.

  Returns (sequences, descriptions): descriptions are the header lines without '>'; sequence
  lines of a record are concatenated with all whitespace removed. Blank lines are ignored.

  Raises ParseError for a string with no record, text before the first header, or a record
  without sequence.
  """
  sequences: List[str] = []
  descriptions: List[str] = []
  chunks: List[List[str]] = []
  for line_number, line in enumerate(fasta_string.splitlines(), start=1):
    line = line.strip()
    if not line:
      continue
    if line.startswith('>'):
      descriptions.append(line[1:])
      chunks.append([])
    elif not chunks:
      raise ParseError(f'FASTA line {line_number} has sequence data before the first '
                       f"'>' header: {line[:40]!r}")
    else:
      chunks[-1].append(''.join(line.split()))
  if not descriptions:
    raise ParseError('FASTA input contains no records (no line starting with ">").')
  for description, chunk in zip(descriptions, chunks):
    sequence = ''.join(chunk)
    if not sequence:
      raise ParseError(f'FASTA record {description!r} has an empty sequence.')
    sequences.append(sequence)
  return sequences, descriptions


def _a3m_row(row: str) -> Tuple[str, np.ndarray]:
  """Splits one A3M row into its aligned string and its deletion vector.

  Lower-case letters are insertions relative to the query (counted as deletions before the next
  aligned column); '.' is an insertion-state gap (dropped, not counted); upper-case letters and
  '-' are aligned columns.
  """
  raw = np.frombuffer(row.encode('ascii', errors='replace'), dtype=np.uint8)
  is_insert = _ASCII_LOWER[raw]
  is_dot = raw == ord('.')
  is_aligned = ~(is_insert | is_dot)
  inserts_before = np.cumsum(is_insert)[is_aligned]  # inserts up to and including each column
  # Aligned chars are not inserts, so inserts strictly before column j = cumsum at j.
  deletions = np.diff(inserts_before, prepend=0).astype(np.int32)  # [n_aligned]
  aligned = raw[is_aligned].tobytes().decode('ascii')
  return aligned, deletions


def parse_a3m(a3m_string: str) -> Msa:
  """Parses an A3M alignment (HHblits output); the first record is the query.

  Equal to AF2's `parsers.parse_a3m` on A3M files without '.' characters; '.' (HHsuite's gap in an
  insert column) is dropped instead of being kept as an aligned character.

  Raises ParseError when the file has no record or when a row's aligned length (after removing
  insertions) differs from the query's; the message names the row.
  """
  rows, descriptions = parse_fasta(a3m_string)
  sequences, deletion_matrix = [], []
  for index, (row, description) in enumerate(zip(rows, descriptions)):
    aligned, deletions = _a3m_row(row)
    if index > 0 and len(aligned) != len(sequences[0]):
      raise ParseError(
          f'A3M row {index} ({description!r}) has {len(aligned)} aligned columns after removing '
          f'insertions, but the query has {len(sequences[0])}.')
    sequences.append(aligned)
    deletion_matrix.append(deletions.tolist())
  return Msa(sequences=sequences, deletion_matrix=deletion_matrix, descriptions=descriptions)


def _stockholm_rows(stockholm_string: str) -> Tuple[List[str], List[str]]:
  """Collects (names, concatenated rows) of a Stockholm file, in order of first appearance."""
  rows = {}
  for line_number, line in enumerate(stockholm_string.splitlines(), start=1):
    line = line.strip()
    if not line or line.startswith(('#', '//')):
      continue
    fields = line.split()
    if len(fields) != 2:
      raise ParseError(f'Stockholm line {line_number} is not "<name> <aligned sequence>": '
                       f'{line[:60]!r}')
    name, chunk = fields
    rows[name] = rows.get(name, '') + chunk
  if not rows:
    raise ParseError('Stockholm input contains no sequence rows.')
  return list(rows), list(rows.values())


def parse_stockholm(stockholm_string: str) -> Msa:
  """Parses a Stockholm alignment (jackhmmer / hmmer output); the first row is the query.

  Columns where the query has a gap ('-' or '.') are removed from every row; residues a row has
  in removed columns are counted as deletions before the next kept column. '.' inside kept
  columns becomes '-'.

  DISCREPANCY: AF2's `parsers.parse_stockholm` removes only '-' query columns, so on hmmer
  family files whose rows use '.' in insert columns (e.g. Pfam / hmmbuild output) it keeps those
  columns and returns rows longer than the query, containing '.'. On jackhmmer output (only '-')
  both give identical results.

  Raises ParseError for a file without rows, or a row whose length differs from the query row
  (the message names the row).
  """
  names, rows = _stockholm_rows(stockholm_string)
  query = np.frombuffer(rows[0].encode('ascii', errors='replace'), dtype=np.uint8)
  gap_codes = np.frombuffer(_GAP_CHARS.encode(), dtype=np.uint8)
  keep = ~np.isin(query, gap_codes)  # [n_columns]
  if not keep.any():
    raise ParseError(f'Stockholm query row {names[0]!r} has no residues.')
  sequences, deletion_matrix = [], []
  for index, (name, row) in enumerate(zip(names, rows)):
    if len(row) != len(query):
      raise ParseError(f'Stockholm row {index} ({name!r}) has {len(row)} columns, '
                       f'the query row {names[0]!r} has {len(query)}.')
    codes = np.frombuffer(row.encode('ascii', errors='replace'), dtype=np.uint8)
    is_residue = ~np.isin(codes, gap_codes)
    deleted = np.cumsum(is_residue & ~keep)[keep]  # deleted residues up to each kept column
    deletion_matrix.append(np.diff(deleted, prepend=0).astype(np.int32).tolist())
    kept = codes[keep].copy()
    kept[kept == ord('.')] = ord('-')
    sequences.append(kept.tobytes().decode('ascii'))
  return Msa(sequences=sequences, deletion_matrix=deletion_matrix, descriptions=names)
