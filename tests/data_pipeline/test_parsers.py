"""Tests of data_pipeline.parsers against the AF2 oracle parsers and hand-checked invariants."""

import numpy as np
import pytest

from data_pipeline import parsers
from data_pipeline.errors import MsaError, ParseError, PipelineError
from tests.oracle import requires_oracle

pytestmark = requires_oracle

A3M_FILES = [
    'af2_pipeline_example/bfd_uniclust_hits.a3m',
    'egf_1A3P_A/bfd_uniclust_hits.a3m',
    'egf_1A3P_A/mgnify_hits.a3m',
    'egf_1A3P_A/uniref90_hits.a3m',
    'myoglobin_102M_A/102m_A.a3m',
    'xylanase_6KWC_1/bfd_uniref_hits.a3m',
]
JACKHMMER_STO_FILES = [
    'af2_pipeline_example/mgnify_hits.sto',
    'af2_pipeline_example/uniref90_hits.sto',
    'xylanase_6KWC_1/mgnify_hits.sto',
]
HMMER_STO_FILES = ['stockholm_hmmer/globins4.sto', 'stockholm_hmmer/fn3.sto']
AA = np.array(list('ACDEFGHIKLMNPQRSTVWY'))


def _assert_msa_equal(ours, ref):
  assert list(ours.sequences) == list(ref.sequences)
  assert [list(r) for r in ours.deletion_matrix] == [list(r) for r in ref.deletion_matrix]
  assert list(ours.descriptions) == list(ref.descriptions)


def _random_a3m(rng, num_rows=7, num_cols=13, dots=False):
  """A random A3M text: upper-case / '-' aligned columns, lower-case insertions between them."""
  lines = []
  for row in range(num_rows):
    chunks = []
    for _ in range(num_cols):
      insert = ''.join(rng.choice(AA, size=rng.integers(0, 3))).lower() if row else ''
      if dots and row and rng.random() < 0.3:
        insert += '.' * int(rng.integers(1, 3))
      aligned = '-' if (row and rng.random() < 0.2) else str(rng.choice(AA))
      chunks.append(insert + aligned)
    lines += [f'>seq{row} random description {row}', ''.join(chunks)]
  return '\n'.join(lines) + '\n'


def test_parse_fasta_matches_oracle_on_multi_record_text():
  from alphafold.data import parsers as af_parsers
  rng = np.random.default_rng(3)
  records = []
  for i in range(5):
    seq = ''.join(rng.choice(AA, size=int(rng.integers(3, 40))))
    wrapped = '\n'.join(seq[j:j + 11] for j in range(0, len(seq), 11))
    records.append(f'>record_{i} some words\n{wrapped}\n\n')
  text = ''.join(records)
  ours = parsers.parse_fasta(text)
  assert ours == tuple(map(list, af_parsers.parse_fasta(text)))
  assert len(ours[0]) == 5 and all(s.isalpha() for s in ours[0])


@pytest.mark.parametrize('text, fragment', [
    ('', 'no records'),
    ('\n\n  \n', 'no records'),
    ('ACDE\n>x\nAC\n', 'line 1'),
    ('>a\nACD\n>b\n\n>c\nAA\n', "'b'"),
])
def test_parse_fasta_bad_input(text, fragment):
  with pytest.raises(ParseError, match=fragment):
    parsers.parse_fasta(text)


@pytest.mark.parametrize('name', A3M_FILES)
def test_parse_a3m_matches_oracle_on_real_files(data_dir, name):
  from alphafold.data import parsers as af_parsers
  text = (data_dir / 'msa' / name).read_text()
  ours = parsers.parse_a3m(text)
  _assert_msa_equal(ours, af_parsers.parse_a3m(text))
  assert len(ours) > 100 and set(map(len, ours.sequences)) == {len(ours.sequences[0])}


def test_parse_a3m_matches_oracle_on_random_alignment():
  from alphafold.data import parsers as af_parsers
  text = _random_a3m(np.random.default_rng(5), num_rows=11, num_cols=13)
  ours = parsers.parse_a3m(text)
  _assert_msa_equal(ours, af_parsers.parse_a3m(text))
  assert len(ours) == 11 and len(ours.sequences[0]) == 13
  assert sum(map(sum, ours.deletion_matrix)) > 0


def test_parse_a3m_drops_insert_gap_dots():
  rng = np.random.default_rng(7)
  text = _random_a3m(rng, num_rows=5, num_cols=11, dots=True)
  assert '.' in text
  ours = parsers.parse_a3m(text)
  # Removing the dots first must give the same alignment (dots are neither columns nor deletions).
  _assert_msa_equal(ours, parsers.parse_a3m(text.replace('.', '')))
  assert all(len(s) == 11 for s in ours.sequences)


def test_parse_a3m_ragged_row_names_the_row():
  text = '>query\nACDEFG\n>hit_one\nACDefgEFG\n>hit_two\nACDEF\n'
  with pytest.raises(ParseError, match=r"row 2 \('hit_two'\).*5 aligned.*6"):
    parsers.parse_a3m(text)


def test_parse_a3m_empty_is_error():
  with pytest.raises(PipelineError):
    parsers.parse_a3m('')


@pytest.mark.parametrize('name', JACKHMMER_STO_FILES)
def test_parse_stockholm_matches_oracle_on_jackhmmer_files(data_dir, name):
  from alphafold.data import parsers as af_parsers
  text = (data_dir / 'msa' / name).read_text()
  ours = parsers.parse_stockholm(text)
  _assert_msa_equal(ours, af_parsers.parse_stockholm(text))
  assert '-' not in ours.sequences[0]


def _dots_to_dashes(stockholm_text):
  """Rewrites '.' as '-' inside the sequence field of alignment lines only."""
  out = []
  for line in stockholm_text.splitlines():
    fields = line.split()
    if len(fields) == 2 and not line.startswith(('#', '//')):
      line = f'{fields[0]} {fields[1].replace(".", "-")}'
    out.append(line)
  return '\n'.join(out)


@pytest.mark.parametrize('name', HMMER_STO_FILES)
def test_parse_stockholm_hmmer_dot_columns(data_dir, name):
  from alphafold.data import parsers as af_parsers
  text = (data_dir / 'msa' / name).read_text()
  ours = parsers.parse_stockholm(text)
  # Query length = residues of the first row (letters), not its column count.
  rows = {}
  for line in text.splitlines():
    if line.strip() and not line.startswith(('#', '//')):
      row_name, chunk = line.split()
      rows[row_name] = rows.get(row_name, '') + chunk
  raw_rows = list(rows.values())
  num_query_residues = sum(c.isalpha() for c in raw_rows[0])
  assert len(ours.sequences[0]) == num_query_residues
  assert ours.sequences[0] == ''.join(c for c in raw_rows[0] if c.isalpha())
  assert all(len(s) == num_query_residues and '.' not in s for s in ours.sequences)
  # The oracle keeps '.' query columns (its documented limitation) ...
  assert len(af_parsers.parse_stockholm(text).sequences[0]) > num_query_residues
  # ... and agrees with us once '.' is written as '-'.
  _assert_msa_equal(ours, af_parsers.parse_stockholm(_dots_to_dashes(text)))
  # Every residue up to the last kept column is either aligned or counted as a deletion.
  query = np.array(list(raw_rows[0]))
  last_kept = np.flatnonzero(~np.isin(query, ['-', '.']))[-1]
  for raw, seq, dels in zip(raw_rows, ours.sequences, ours.deletion_matrix):
    residues = sum(c.isalpha() for c in raw[:last_kept + 1])
    assert sum(c.isalpha() for c in seq) + sum(dels) == residues


def test_parse_stockholm_multi_block_and_bad_rows():
  text = ('# STOCKHOLM 1.0\n#=GF ID x\nq  AC-D\nh1 A.kD\n\nq  E.F\nh1 EGF\n//\n')
  msa = parsers.parse_stockholm(text)
  assert list(msa.sequences) == ['ACDEF', 'A-DEF']
  assert [list(r) for r in msa.deletion_matrix] == [[0] * 5, [0, 0, 1, 0, 1]]
  assert list(msa.descriptions) == ['q', 'h1']
  with pytest.raises(ParseError, match=r"row 1 \('h1'\)"):
    parsers.parse_stockholm('# STOCKHOLM 1.0\nq ACDE\nh1 ACD\n')
  with pytest.raises(ParseError, match='line 3'):
    parsers.parse_stockholm('# STOCKHOLM 1.0\nq ACDE\nh1 AC DE\n')
  with pytest.raises(ParseError, match='STOCKHOLM'):  # issue 23: the header is required
    parsers.parse_stockholm('q ACDE\nh1 ACDE\n')
  with pytest.raises(ParseError, match='no sequence rows'):
    parsers.parse_stockholm('# STOCKHOLM 1.0\n//\n')


def test_msa_dataclass_validates_and_truncates():
  with pytest.raises(MsaError):
    parsers.Msa(sequences=['AC', 'AD'], deletion_matrix=[[0, 0]], descriptions=['a', 'b'])
  msa = parsers.Msa(sequences=['AC', 'AD', 'GG'], deletion_matrix=[[0, 0], [1, 0], [0, 2]],
                    descriptions=['a', 'b', 'c'])
  short = msa.truncate(2)
  assert len(short) == 2 and list(short.descriptions) == ['a', 'b']
