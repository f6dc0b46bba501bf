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
# Characters an aligned row may hold: residue letters (upper = aligned, lower = A3M insertion)
# and the gaps '-' and '.'. Digits, punctuation, whitespace inside a row or non-ASCII are errors.
_ROW_CHARS = np.zeros(256, dtype=bool)
_ROW_CHARS[ord('A'):ord('Z') + 1] = True
_ROW_CHARS[ord('a'):ord('z') + 1] = True
_ROW_CHARS[[ord(c) for c in _GAP_CHARS]] = True
STOCKHOLM_HEADER = '# STOCKHOLM'
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


def _check_row_chars(row: str, what: str) -> None:
  """ParseError naming the first character of `row` that is not a letter, '-' or '.'."""
  if row.isascii():
    bad = np.flatnonzero(~_ROW_CHARS[np.frombuffer(row.encode('ascii'), dtype=np.uint8)])
    position = int(bad[0]) if bad.size else None
  else:
    position = next(i for i, c in enumerate(row) if not c.isascii())
  if position is not None:
    raise ParseError(f'{what} has invalid character {row[position]!r} at position '
                     f'{position + 1} (allowed: letters, "-" and ".")')


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

  Raises ParseError when the file has no record, a row holds a character other than a letter,
  '-' or '.' (e.g. digits), or a row's aligned length (after removing insertions) differs from
  the query's; the message names the row.
  """
  if not a3m_string.strip():
    raise ParseError('A3M input is empty.')
  try:
    rows, descriptions = parse_fasta(a3m_string)
  except ParseError as e:
    raise ParseError(str(e).replace('FASTA', 'A3M')) from None
  sequences, deletion_matrix = [], []
  for index, (row, description) in enumerate(zip(rows, descriptions)):
    _check_row_chars(row, f'A3M row {index} ({description[:40]!r})')
    aligned, deletions = _a3m_row(row)
    if index == 0 and not aligned:
      raise ParseError(f'A3M query row ({description[:40]!r}) has no aligned residues.')
    if index > 0 and len(aligned) != len(sequences[0]):
      raise ParseError(
          f'A3M row {index} ({description!r}) has {len(aligned)} aligned columns after removing '
          f'insertions, but the query has {len(sequences[0])}.')
    sequences.append(aligned)
    deletion_matrix.append(deletions.tolist())
  return Msa(sequences=sequences, deletion_matrix=deletion_matrix, descriptions=descriptions)


def _stockholm_rows(stockholm_string: str) -> Tuple[List[str], List[str]]:
  """Collects (names, concatenated rows) of a Stockholm file, in order of first appearance."""
  lines = stockholm_string.splitlines()
  first = next((l.strip() for l in lines if l.strip()), '')
  if not first.startswith(STOCKHOLM_HEADER):
    raise ParseError(f'Stockholm input does not start with the "{STOCKHOLM_HEADER} 1.0" header '
                     f'(first line: {first[:40]!r}).')
  rows = {}
  for line_number, line in enumerate(lines, start=1):
    line = line.strip()
    if not line or line.startswith(('#', '//')):
      continue
    fields = line.split()
    if len(fields) != 2:
      raise ParseError(f'Stockholm line {line_number} is not "<name> <aligned sequence>": '
                       f'{line[:60]!r}')
    name, chunk = fields
    _check_row_chars(chunk, f'Stockholm line {line_number} (row {name[:40]!r})')
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

  Raises ParseError for text without the `# STOCKHOLM` header line, a file without rows, a row
  holding a character other than a letter, '-' or '.', or a row whose length differs from the
  query row (the message names the row).
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
