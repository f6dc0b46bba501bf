"""AF2's template hit prefilters, the obsolete-id list and release-date files.

Order per hit (AF2 v2.3 `_process_single_hit` + `_assess_hhsearch_hit`):
  1. the hit's PDB id is removed (obsolete without replacement) -> skipped with a warning;
     replaced -> the replacement id is used (unless the old id has a known release date);
  2. release date from the release-dates file after `max_template_date` -> DateError;
  3. aligned_cols / len(query) <= min_align_ratio (0.1) -> AlignRatioError;
  4. the ungapped hit sequence is a substring of the query and longer than
     max_subsequence_ratio (0.95) of it -> DuplicateError;
  5. fewer than 10 hit residues -> LengthError.
After the mmCIF is read, its own release date is checked against the cutoff again.

DISCREPANCY: the alphafold-colabfold oracle disables checks 3-5 (it computes them but only
raises DateError). DeepMind's AF2 v2.3 applies all four with the defaults above; we follow
DeepMind. `PrefilterSettings(min_align_ratio=0, max_subsequence_ratio=1, min_length=0)`
reproduces the oracle.
"""

import dataclasses
import datetime
import re
from typing import Dict, Mapping, Optional, Tuple

from data_pipeline.errors import TemplateError
from data_pipeline.templates.hits import TemplateHit

_HIT_NAME = re.compile(r'[a-zA-Z\d]{4}_[a-zA-Z0-9.]+')


class PrefilterError(Exception):
  """A hit rejected before its mmCIF is read (not an input error: the hit is skipped)."""


class DateError(PrefilterError):
  """The template was released after the cutoff."""


class AlignRatioError(PrefilterError):
  """Too few query residues are aligned to the hit."""


class DuplicateError(PrefilterError):
  """The hit is (almost) the query itself."""


class LengthError(PrefilterError):
  """The hit is too short."""


@dataclasses.dataclass(frozen=True)
class PrefilterSettings:
  """AF2 v2.3 defaults."""
  max_subsequence_ratio: float = 0.95
  min_align_ratio: float = 0.1
  min_length: int = 10


def pdb_id_and_chain(hit: TemplateHit, source: str = '<hits>') -> Tuple[str, str]:
  """('1abc', 'A') from a hit named '1ABC_A ...'; TemplateError otherwise."""
  match = _HIT_NAME.match(hit.name)
  if not match:
    raise TemplateError(f'{source}: hit {hit.index} name {hit.name[:40]!r} does not start '
                        'with PDBID_CHAIN')
  pdb_id, chain = match.group(0).split('_')
  return pdb_id.lower(), chain


def parse_obsolete(text: str, source: str = 'obsolete.dat') -> Dict[str, Optional[str]]:
  """PDB's obsolete.dat: {old id: replacement id, or None when removed without one}.

  Lines: 'OBSLTE    31-JUL-94 116L     216L' (replaced; only the first replacement is used)
  and 'OBSLTE    06-NOV-19 6G9Y' (removed). Other lines are ignored.
  """
  result: Dict[str, Optional[str]] = {}
  for number, line in enumerate(text.splitlines(), start=1):
    line = line.strip()
    if not line.startswith('OBSLTE'):
      continue
    if len(line) > 30:
      result[line[20:24].lower()] = line[29:33].lower()
    elif len(line) == 24:
      result[line[20:24].lower()] = None
    else:
      raise TemplateError(f'{source}: line {number} is not an OBSLTE record: {line[:40]!r}')
  return result


def parse_release_dates(text: str, source: str = 'release_dates.txt'
                        ) -> Dict[str, datetime.date]:
  """'pdbid: YYYY-MM-DD' lines -> {pdbid: date} (AF2's optional precomputed dates)."""
  dates = {}
  for number, line in enumerate(text.splitlines(), start=1):
    if not line.strip():
      continue
    pdb_id, sep, date = line.partition(':')
    try:
      if not sep:
        raise ValueError
      dates[pdb_id.strip()] = datetime.date.fromisoformat(date.strip()[:10])
    except ValueError:
      raise TemplateError(f'{source}: line {number} is not "PDBID: YYYY-MM-DD": '
                          f'{line.strip()[:40]!r}') from None
  return dates


def parse_date(text: str, what: str = '--max-template-date') -> datetime.date:
  try:
    return datetime.date.fromisoformat(text)
  except (TypeError, ValueError):
    raise TemplateError(f'{what} must be a date YYYY-MM-DD, got {text!r}') from None


def resolve_obsolete(pdb_id: str, obsolete: Mapping[str, Optional[str]],
                     release_dates: Mapping[str, datetime.date]) -> Optional[str]:
  """The id to use for a hit: None when removed, the replacement when replaced."""
  if pdb_id in obsolete and obsolete[pdb_id] is None:
    return None
  if pdb_id not in release_dates and pdb_id in obsolete:
    return obsolete[pdb_id]
  return pdb_id


def prefilter(hit: TemplateHit, pdb_id: str, query_sequence: str,
              release_dates: Mapping[str, datetime.date], cutoff: datetime.date,
              settings: PrefilterSettings = PrefilterSettings()) -> None:
  """Raises a PrefilterError subclass when the hit must be skipped (see module docstring)."""
  if pdb_id in release_dates and release_dates[pdb_id] > cutoff:
    raise DateError(f'release date {release_dates[pdb_id]} > max template date {cutoff}')
  align_ratio = hit.aligned_cols / len(query_sequence)
  if align_ratio <= settings.min_align_ratio:
    raise AlignRatioError(f'align ratio {align_ratio:.3f} <= {settings.min_align_ratio}')
  template = hit.hit_sequence.replace('-', '')
  length_ratio = len(template) / len(query_sequence)
  if template in query_sequence and length_ratio > settings.max_subsequence_ratio:
    raise DuplicateError(f'exact subsequence of the query covering {length_ratio:.3f} of it')
  if len(template) < settings.min_length:
    raise LengthError(f'only {len(template)} residues')
