"""Stockholm text: writing pyhmmer alignments as HMMER does, and AF2's Stockholm utilities.

  msa_to_stockholm(names, rows, descriptions, rf, header)   one-block Stockholm text
  truncate(sto, max_sequences)          first N sequences (query included), AF2's hit caps
  deduplicate(sto)                      drop rows identical on the query's columns (AF2)
  remove_empty_columns(sto)             drop all-gap columns (AF2, before hmmbuild --hand)

Rows are written on one line each (Pfam style); `#=GS name DE ...` lines carry descriptions and
`#=GC RF` the model's match columns ('x') when known.
"""

from typing import Dict, List, Optional, Sequence

from data_pipeline.templates.hits import stockholm_rows


def msa_to_stockholm(names: Sequence[str], rows: Sequence[str],
                     descriptions: Optional[Dict[str, str]] = None, rf: Optional[str] = None,
                     header: Sequence[str] = ()) -> str:
  """One-block Stockholm text of an alignment."""
  descriptions = descriptions or {}
  width = max([len(n) for n in names] + [7 if rf is not None else 0]) + 1
  lines = ['# STOCKHOLM 1.0', *header, '']
  for name in names:
    if name in descriptions:
      lines.append(f'#=GS {name.ljust(width)} DE {descriptions[name]}')
  lines.append('')
  lines += [f'{name.ljust(width)} {row}' for name, row in zip(names, rows)]
  if rf is not None:
    lines.append(f'{"#=GC RF".ljust(width)} {rf}')
  lines.append('//')
  return '\n'.join(lines) + '\n'


def _rf(sto: str) -> Optional[str]:
  rf = [line.split()[-1] for line in sto.splitlines() if line.startswith('#=GC RF')]
  return ''.join(rf) if rf else None


def _header(sto: str) -> List[str]:
  return [line for line in sto.splitlines() if line.startswith('#=GF')]


def truncate(sto: str, max_sequences: int) -> str:
  """The first `max_sequences` sequences (the query counts), annotations of dropped rows too."""
  names, rows, descriptions = stockholm_rows(sto)
  if len(names) <= max_sequences:
    return sto
  return msa_to_stockholm(names[:max_sequences], rows[:max_sequences], descriptions, _rf(sto),
                          _header(sto))


def deduplicate(sto: str) -> str:
  """Rows whose query-column residues equal an earlier row's are dropped (AF2 semantics)."""
  names, rows, descriptions = stockholm_rows(sto)
  keep_cols = [c != '-' for c in rows[0]]
  seen, kept = set(), []
  for i, row in enumerate(rows):
    key = ''.join(c for c, k in zip(row, keep_cols) if k)
    if key not in seen:
      seen.add(key)
      kept.append(i)
  return msa_to_stockholm([names[i] for i in kept], [rows[i] for i in kept], descriptions,
                          _rf(sto), _header(sto))


def remove_empty_columns(sto: str) -> str:
  """Columns that are '-' in every row are removed (the RF line follows)."""
  names, rows, descriptions = stockholm_rows(sto)
  if not rows:
    return sto
  keep = [any(row[j] != '-' for row in rows) for j in range(len(rows[0]))]
  cut = lambda s: ''.join(c for c, k in zip(s, keep) if k)
  rf = _rf(sto)
  return msa_to_stockholm(names, [cut(r) for r in rows], descriptions,
                          cut(rf) if rf is not None else None, _header(sto))
