"""Template hit parsers: HHsearch `.hhr`, hmmsearch Stockholm (`pdb_hits.sto`) and A3M.

A `TemplateHit` has AF2's meaning (`alphafold.data.parsers.TemplateHit`):

  name           'PDBID_CHAIN ...' (the hit's header)
  aligned_cols   number of aligned (match) columns
  sum_probs      HHsearch Sum_probs; None for hmmsearch hits (they keep their file order)
  query          aligned query string ('-' = gap in the query)
  hit_sequence   aligned hit string, same length as `query`
  indices_query  0-based query residue index per column, -1 at a query gap
  indices_hit    0-based hit residue index per column, -1 at a hit gap

Bad input raises `TemplateError` naming the file (`source`) and the hit.
"""

import dataclasses
import re
from typing import List, Optional, Sequence, Tuple

from data_pipeline.errors import TemplateError
from data_pipeline.parsers import parse_fasta


@dataclasses.dataclass(frozen=True)
class TemplateHit:
  """One template hit (see module docstring)."""
  index: int
  name: str
  aligned_cols: int
  sum_probs: Optional[float]
  query: str
  hit_sequence: str
  indices_query: Sequence[int]
  indices_hit: Sequence[int]


def _residue_indices(aligned: str, start: int) -> List[int]:
  """Per column: running residue index from `start`, -1 at '-'."""
  out, counter = [], start
  for char in aligned:
    if char == '-':
      out.append(-1)
    else:
      out.append(counter)
      counter += 1
  return out


# ---------------------------------------------------------------------------------------------
# HHsearch / HHblits .hhr
# ---------------------------------------------------------------------------------------------
_HHR_SUMMARY = re.compile(
    r'Probab=(\S+)\s+E-value=(\S+)\s+Score=(\S+)\s+Aligned_cols=(\S+)\s+Identities=(\S+)%\s+'
    r'Similarity=(\S+)\s+Sum_probs=(\S+)\s+Template_Neff=(\S+)')
_HHR_QUERY = re.compile(r'\s*(\d+) ([A-Z-]*)\s*(\d+) \(\d+\)')
_HHR_TEMPLATE = re.compile(r'\s*(\d+) ([A-Z-]*)\s*\d+ \(\d+\)')
_HHR_SKIP = ('ss_dssp', 'ss_pred', 'Consensus')


def _hhr_hit(lines: Sequence[str], source: str) -> TemplateHit:
  number = int(lines[0].split()[-1])
  name = lines[1][1:]
  match = _HHR_SUMMARY.match(lines[2]) if len(lines) > 2 else None
  if match is None:
    raise TemplateError(f'{source}: hit No {number} has no parsable summary line '
                        '(Probab= ... Template_Neff=)')
  aligned_cols = int(float(match.group(4)))
  sum_probs = float(match.group(7))
  query, hit = [], []
  indices_query, indices_hit = [], []
  block = None
  for line in lines[3:]:
    is_query = line.startswith('Q ') and not any(line[2:].startswith(s) for s in _HHR_SKIP)
    is_template = line.startswith('T ') and not any(line[2:].startswith(s) for s in _HHR_SKIP)
    if not (is_query or is_template):
      continue
    found = (_HHR_QUERY if is_query else _HHR_TEMPLATE).match(line[17:])
    if found is None:
      raise TemplateError(f'{source}: hit No {number} ({name.split()[0] if name else "?"}): '
                          f'cannot parse alignment line {line.strip()[:60]!r}')
    start, chunk = int(found.group(1)) - 1, found.group(2)
    if is_query:
      block = len(chunk)
      query.append(chunk)
      indices_query.extend(_residue_indices(chunk, start))
    else:
      if block != len(chunk):
        raise TemplateError(f'{source}: hit No {number}: template block length {len(chunk)} '
                            f'differs from the query block length {block}')
      hit.append(chunk)
      indices_hit.extend(_residue_indices(chunk, start))
  return TemplateHit(index=number, name=name, aligned_cols=aligned_cols, sum_probs=sum_probs,
                     query=''.join(query), hit_sequence=''.join(hit),
                     indices_query=indices_query, indices_hit=indices_hit)


def parse_hhr(hhr_string: str, source: str = '<hhr>') -> List[TemplateHit]:
  """All hits of an .hhr file (HHsearch or HHblits), in file order."""
  lines = hhr_string.splitlines()
  starts = [i for i, line in enumerate(lines) if line.startswith('No ')]
  starts.append(len(lines))
  return [_hhr_hit(lines[a:b], source) for a, b in zip(starts[:-1], starts[1:])]


# ---------------------------------------------------------------------------------------------
# hmmsearch output (Stockholm -> A3M -> hits)
# ---------------------------------------------------------------------------------------------
def stockholm_rows(stockholm: str) -> Tuple[List[str], List[str], dict]:
  """(names, concatenated rows, {name: #=GS DE description}) in order of first appearance."""
  rows: dict = {}
  descriptions: dict = {}
  for line in stockholm.splitlines():
    if line.startswith('#=GS'):
      parts = line.split(maxsplit=3)
      if len(parts) >= 3 and parts[2] == 'DE':
        descriptions[parts[1]] = parts[3] if len(parts) == 4 else ''
    elif line.strip() and not line.startswith(('#', '//')):
      name, _, chunk = line.partition(' ')
      rows[name] = rows.get(name, '') + chunk.strip()
  return list(rows), list(rows.values()), descriptions


def stockholm_to_a3m(stockholm: str, remove_first_row_gaps: bool = True) -> str:
  """Stockholm -> A3M text ('>name description' headers; '.' dropped).

  With `remove_first_row_gaps`, columns where the first row has '-' become lower-case
  insertions (their '-' dropped), as AF2's `convert_stockholm_to_a3m`.
  """
  names, rows, descriptions = stockholm_rows(stockholm)
  rows = [row.replace('.', '') for row in rows]
  if remove_first_row_gaps and rows:
    keep = [c != '-' for c in rows[0]]
    rows = [''.join(c if k else c.lower() for c, k in zip(row, keep) if k or c != '-')
            for row in rows]
  return ''.join(f'>{n} {descriptions.get(n, "")}\n{r}\n' for n, r in zip(names, rows))


_HMMSEARCH_DESCRIPTION = re.compile(
    r'^>?([a-z0-9]+)_(\w+)/([0-9]+)-([0-9]+).*protein length:([0-9]+) *(.*)$')


def _a3m_indices(aligned: str, start: int) -> List[int]:
  """Indices of the upper-case/'-' columns of an A3M row; lower-case letters only count."""
  out, counter = [], start
  for char in aligned:
    if char == '-':
      out.append(-1)
    elif char.islower():
      counter += 1
    else:
      out.append(counter)
      counter += 1
  return out


def parse_hmmsearch_a3m(query_sequence: str, a3m_string: str, skip_first: bool = True,
                        source: str = '<a3m>') -> List[TemplateHit]:
  """Hits of an hmmsearch alignment in A3M form; rows without 'mol:protein' are skipped.

  Headers look like '>1abc_A/12-140 mol:protein length:150  NAME' (pdb_seqres.txt names plus
  hmmsearch's /start-end). `query` of every hit is the whole query sequence.
  """
  sequences, descriptions = parse_fasta(a3m_string) if a3m_string.strip() else ([], [])
  records = list(zip(sequences, descriptions))[1 if skip_first else 0:]
  indices_query = _a3m_indices(query_sequence, 0)
  hits = []
  for number, (sequence, description) in enumerate(records, start=1):
    if 'mol:protein' not in description:
      continue
    match = _HMMSEARCH_DESCRIPTION.match(description.strip())
    if not match:
      raise TemplateError(f'{source}: hit {number} header is not "PDBID_CHAIN/START-END '
                          f'mol:protein length:N ...": {description[:60]!r}')
    hits.append(TemplateHit(
        index=number, name=f'{match[1]}_{match[2]}',
        aligned_cols=sum(c.isupper() for c in sequence), sum_probs=None,
        query=query_sequence, hit_sequence=sequence.upper(), indices_query=indices_query,
        indices_hit=_a3m_indices(sequence, int(match[3]) - 1)))
  return hits


def parse_hmmsearch_sto(query_sequence: str, stockholm: str,
                        source: str = '<sto>') -> List[TemplateHit]:
  """Hits of hmmsearch's `-A` Stockholm output (`pdb_hits.sto`); every row is a hit."""
  a3m = stockholm_to_a3m(stockholm, remove_first_row_gaps=False)
  return parse_hmmsearch_a3m(query_sequence, a3m, skip_first=False, source=source)
