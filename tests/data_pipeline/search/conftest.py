"""A search database made in the test: ungapped rows of the shared myoglobin A3M (true
homologues of the query), each also shuffled (decoys: same composition, no homology), plus the
ungapped rows of the EGF A3M (unrelated family). Small enough for a fast jackhmmer."""

import dataclasses
import pathlib
import random

import pytest

DATA = pathlib.Path(__file__).resolve().parents[2] / 'data'


def ungapped_rows(path, limit):
  records = path.read_text().split('>')[1:]
  query = ''.join(c for c in records[0].partition('\n')[2] if c.isalpha()).upper()
  rows, seen = [], {query}
  for record in records[1:]:
    sequence = ''.join(c for c in record.partition('\n')[2] if c.isalpha()).upper()
    if sequence not in seen and len(sequence) >= 30:
      seen.add(sequence)
      rows.append(sequence)
    if len(rows) == limit:
      break
  return query, rows


@dataclasses.dataclass
class SearchDb:
  fasta: pathlib.Path
  query: str
  homologues: list
  decoys: list
  unrelated: list


@pytest.fixture(scope='session')
def search_db(tmp_path_factory):
  root = tmp_path_factory.mktemp('searchdb')
  query, homologues = ungapped_rows(DATA / 'msa/myoglobin_102M_A/102m_A.a3m', 150)
  _, unrelated = ungapped_rows(DATA / 'msa/egf_1A3P_A/uniref90_hits.a3m', 100)
  rng = random.Random(16)
  decoys = []
  for sequence in homologues:
    letters = list(sequence)
    rng.shuffle(letters)
    decoys.append(''.join(letters))
  path = root / 'db.fasta'
  with path.open('w') as f:
    for i, (h, d) in enumerate(zip(homologues, decoys)):
      f.write(f'>tr|H{i:05d}|H{i:05d}_PHYMC homologue {i}\n{h}\n')
      f.write(f'>decoy{i} shuffled homologue {i}\n{d}\n')
    for i, u in enumerate(unrelated):
      f.write(f'>egf{i} unrelated\n{u}\n')
  return SearchDb(path, query, homologues, decoys, unrelated)
