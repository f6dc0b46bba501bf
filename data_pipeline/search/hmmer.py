"""HMMER3 in process (pyhmmer): jackhmmer MSA search and hmmbuild + hmmsearch template search.

jackhmmer with AF2 v2.3's settings (`alphafold.data.tools.jackhmmer`): one iteration (-N 1),
-E 0.0001 --incE 0.0001 --F1 0.0005 --F2 0.00005 --F3 0.0000005; the output is the Stockholm
alignment jackhmmer writes with -A (query first, then every included domain as
`name/start-end`, `#=GS ... DE` descriptions, `#=GC RF`), truncated to `max_sequences` rows
(AF2: uniref90 10,000, mgnify 501).

Template search as AF2's `Hmmsearch` (pdb_seqres): hmmbuild --hand --amino on the uniref90
alignment (deduplicated, empty columns removed), then hmmsearch with
--F1 0.1 --F2 0.1 --F3 0.1 --incE 100 -E 100 --domE 100 --incdomE 100; the output is
hmmsearch's -A Stockholm (every included domain, all consensus columns, lower-case inserts).

`cpus` is the number of worker threads (HMMER's --cpu); progress callbacks get
(done, total) in database sequences where pyhmmer reports them.
"""

import io
from typing import Optional

from data_pipeline.errors import SearchError
from data_pipeline.search import stockholm
from data_pipeline.search.databases import amino_alphabet, open_database

JACKHMMER_SETTINGS = dict(E=0.0001, incE=0.0001, F1=0.0005, F2=0.00005, F3=0.0000005)
HMMSEARCH_SETTINGS = dict(F1=0.1, F2=0.1, F3=0.1, incE=100.0, E=100.0, domE=100.0,
                          incdomE=100.0)
UNIREF_MAX_HITS = 10000
MGNIFY_MAX_HITS = 501


def _msa_text(msa) -> str:
  buffer = io.BytesIO()
  msa.write(buffer, 'stockholm')
  return buffer.getvalue().decode()


def _lower_inserts(sto: str) -> str:
  """Residues in non-RF (insert) columns in lower case, as HMMER's text output."""
  names, rows, descriptions = stockholm.stockholm_rows(sto)
  rf = stockholm._rf(sto)  # pylint: disable=protected-access
  if rf is None:
    return sto
  match = [c not in '.-' for c in rf]
  rows = [''.join(c if m else c.lower() for c, m in zip(row, match)) for row in rows]
  header = ['#=GF ID query-i1', '#=GF AU jackhmmer (pyhmmer)']
  return stockholm.msa_to_stockholm(names, rows, descriptions, rf, header)


def jackhmmer(query_name: str, query_sequence: str, database_path: str,
              max_sequences: Optional[int] = None, cpus: int = 2, what: str = 'database') -> str:
  """Stockholm text of a one-iteration jackhmmer search of the query against a FASTA file."""
  import pyhmmer  # pylint: disable=import-outside-toplevel
  alphabet = amino_alphabet()
  query = pyhmmer.easel.TextSequence(name=query_name, sequence=query_sequence).digitize(alphabet)
  with open_database(database_path, what) as database:
    result = next(pyhmmer.hmmer.jackhmmer(query, database, max_iterations=1, cpus=cpus,
                                          **JACKHMMER_SETTINGS))
  text_msa = result.msa.textize()
  descriptions = {}
  for sequence in text_msa.sequences:
    if sequence.description:
      descriptions[sequence.name] = sequence.description
  sto = _msa_text(text_msa)
  names, rows, _ = stockholm.stockholm_rows(sto)
  sto = stockholm.msa_to_stockholm(names, rows, descriptions, stockholm._rf(sto))  # pylint: disable=protected-access
  sto = _lower_inserts(sto)
  if max_sequences is not None:
    sto = stockholm.truncate(sto, max_sequences)
  return sto


def hmmsearch_templates(msa_sto: str, pdb_seqres_path: str, cpus: int = 2) -> str:
  """hmmsearch -A Stockholm text of the MSA's profile against pdb_seqres (AF2's template search).

  Returns '' when nothing is found.
  """
  import pyhmmer  # pylint: disable=import-outside-toplevel
  alphabet = amino_alphabet()
  sto = stockholm.remove_empty_columns(stockholm.deduplicate(msa_sto))
  try:
    msa = pyhmmer.easel.MSAFile(io.BytesIO(sto.encode()), format='stockholm', digital=True,
                                alphabet=alphabet).read()
  except (ValueError, OSError) as e:
    raise SearchError(f'hmmbuild: cannot read the uniref90 alignment ({e})') from None
  msa.name = b'query'
  builder = pyhmmer.plan7.Builder(alphabet, architecture='hand')
  hmm, _, _ = builder.build_msa(msa, pyhmmer.plan7.Background(alphabet))
  with open_database(pdb_seqres_path, 'pdb_seqres') as database:
    hits = next(pyhmmer.hmmer.hmmsearch([hmm], database, cpus=cpus, **HMMSEARCH_SETTINGS))
  if not any(hit.included for hit in hits):
    return ''
  return _msa_text(hits.to_msa(alphabet, all_consensus_cols=True))
