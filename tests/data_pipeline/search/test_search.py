"""jackhmmer / hmmsearch (pyhmmer) on a database made in the test; AF2 msas/ layout and reuse;
raw features equal the oracle's `make_msa_features` on the same search output."""

import os

import numpy as np
import pytest

from tests.oracle import oracle_import, requires_oracle

from data_pipeline.errors import PipelineError, SearchError
from data_pipeline.parsers import parse_stockholm
from data_pipeline.search import SearchSettings, check_settings, hmmer, run_pipeline, stockholm
from data_pipeline.templates.hits import parse_hmmsearch_sto, stockholm_rows


pytestmark = requires_oracle


@pytest.fixture(scope='module')
def uniref_sto(search_db):
  return hmmer.jackhmmer('query', search_db.query, str(search_db.fasta), 10000, cpus=1)


def test_jackhmmer_finds_homologues_not_decoys(search_db, uniref_sto):
  names, rows, descriptions = stockholm_rows(uniref_sto)
  assert names[0] == 'query' and rows[0].replace('-', '') == search_db.query
  found = {n.split('/')[0] for n in names[1:]}
  homologues = {f'tr|H{i:05d}|H{i:05d}_PHYMC' for i in range(len(search_db.homologues))}
  assert len(found & homologues) >= 0.95 * len(homologues)
  assert not any(n.startswith(('decoy', 'egf')) for n in found)
  assert all('homologue' in descriptions[n] for n in names[1:])


def test_hit_cap_keeps_query_and_first_rows(search_db, uniref_sto):
  capped = hmmer.jackhmmer('query', search_db.query, str(search_db.fasta), 11, cpus=1)
  names, _, _ = stockholm_rows(capped)
  assert names == stockholm_rows(uniref_sto)[0][:11]


def test_raw_features_equal_oracle_make_msa_features(search_db, uniref_sto):
  pipeline = oracle_import('alphafold.data.pipeline')
  from alphafold.data import parsers as af_parsers  # pylint: disable=import-outside-toplevel
  from data_pipeline import make_raw_features  # pylint: disable=import-outside-toplevel
  theirs = pipeline.make_msa_features([af_parsers.parse_stockholm(uniref_sto)])
  ours = make_raw_features(search_db.query, 'query', [parse_stockholm(uniref_sto)])
  # DeepMind's v2.3 drops duplicate rows; the oracle has that commented out: apply it here.
  _, first = np.unique(theirs['msa'], axis=0, return_index=True)
  keep = np.sort(first)
  assert keep.size == ours['msa'].shape[0]
  np.testing.assert_array_equal(ours['msa'], theirs['msa'][keep])
  np.testing.assert_array_equal(ours['deletion_matrix_int'], theirs['deletion_matrix_int'][keep])
  np.testing.assert_array_equal(ours['msa_species_identifiers'],
                                theirs['msa_species_identifiers'][keep])
  assert ours['msa_species_identifiers'][1] == b'PHYMC'
  assert ours['num_alignments'][0] == keep.size


def test_stockholm_utilities_equal_oracle(uniref_sto):
  af_parsers = oracle_import('alphafold.data.parsers')
  for ours, theirs in ((stockholm.deduplicate, af_parsers.deduplicate_stockholm_msa),
                       (stockholm.remove_empty_columns,
                        af_parsers.remove_empty_columns_from_stockholm_msa)):
    a, b = ours(uniref_sto), theirs(uniref_sto)
    assert stockholm_rows(a)[:2] == stockholm_rows(b)[:2]


def test_template_search_finds_pdb_entry(search_db, uniref_sto, tmp_path):
  """hmmbuild --hand + hmmsearch vs a pdb_seqres made of the query (as 102m_A), two
  homologues and one decoy: the hits parse (ours == oracle's parser) and exclude the decoy."""
  seqres = tmp_path / 'pdb_seqres.txt'
  seqres.write_text(
      f'>102m_A mol:protein length:{len(search_db.query)}  MYOGLOBIN\n{search_db.query}\n'
      f'>1abc_B mol:protein length:{len(search_db.homologues[5])}  GLOBIN\n'
      f'{search_db.homologues[5]}\n'
      f'>2dna_A mol:na length:12  DNA\nACGTACGTACGT\n'
      f'>9zzz_A mol:protein length:{len(search_db.decoys[0])}  DECOY\n{search_db.decoys[0]}\n')
  sto = hmmer.hmmsearch_templates(uniref_sto, str(seqres), cpus=1)
  hits = parse_hmmsearch_sto(search_db.query, sto)
  assert sorted(h.name for h in hits) == ['102m_A', '1abc_B']  # no decoy, no mol:na
  self_hit = next(h for h in hits if h.name == '102m_A')
  assert self_hit.hit_sequence == search_db.query  # the query finds itself end to end
  af_parsers = oracle_import('alphafold.data.parsers')
  theirs = af_parsers.parse_hmmsearch_a3m(
      search_db.query, af_parsers.convert_stockholm_to_a3m(sto, remove_first_row_gaps=False),
      skip_first=False)
  for a, b in zip(hits, theirs):
    assert (a.name, a.aligned_cols, a.query, a.hit_sequence, list(a.indices_query),
            list(a.indices_hit)) == (b.name, b.aligned_cols, b.query, b.hit_sequence,
                                     list(b.indices_query), list(b.indices_hit))
  assert len(hits) == len(theirs)


def test_pipeline_layout_and_precomputed_reuse(search_db, tmp_path):
  settings = SearchSettings(databases={'uniref90': str(search_db.fasta),
                                       'mgnify': str(search_db.fasta)}, cpus=1)
  msa_dir = tmp_path / 'msas'
  features = run_pipeline('query', search_db.query, 'query', str(msa_dir), settings)
  assert sorted(os.listdir(msa_dir)) == ['mgnify_hits.sto', 'uniref90_hits.sto']
  assert len(stockholm_rows((msa_dir / 'mgnify_hits.sto').read_text())[0]) <= 501
  assert features['template_aatype'].shape == (0, len(search_db.query), 22)
  # Reuse: a precomputed file is read, not searched again (even without databases).
  (msa_dir / 'mgnify_hits.sto').write_text(
      '# STOCKHOLM 1.0\nquery ' + search_db.query + '\n//\n')
  again = run_pipeline('query', search_db.query, 'query', str(msa_dir),
                       SearchSettings(use_precomputed_msas=True))
  assert again['msa'].shape[0] == features['msa'].shape[0]  # mgnify rows were duplicates
  assert (msa_dir / 'mgnify_hits.sto').read_text().count('\n') == 3


@pytest.mark.parametrize('content, message', [
    (None, 'file not found'),
    ('', 'empty database'),
    ('not fasta\n', 'not a FASTA file'),
    ('>x\nMKV1LL\n', "not an amino-acid letter: '1'"),
])
def test_bad_database_is_one_clear_line(tmp_path, content, message):
  path = tmp_path / 'db.fasta'
  if content is not None:
    path.write_text(content)
  with pytest.raises(SearchError) as info:
    check_settings(SearchSettings(databases={'uniref90': str(path)}))
  assert message in str(info.value) and str(path) in str(info.value)
  assert '\n' not in str(info.value)
  assert isinstance(info.value, PipelineError)


def test_hhsuite_binaries_optional():
  from data_pipeline.search import hhsuite  # pylint: disable=import-outside-toplevel
  if hhsuite.available('hhblits') is None:
    with pytest.raises(SearchError, match='hhblits not found on PATH'):
      hhsuite.hhblits('q', 'MKVLA', ['/nonexistent/bfd'])
    pytest.skip('hhblits binary not on PATH (Debian package hhsuite): real run not tested')


def test_large_databases_are_streamed_with_the_same_result(search_db, uniref_sto, monkeypatch):
  """Files above STREAM_MIN_BYTES are searched from disk (SequenceFile), not loaded: same hits."""
  from data_pipeline.search import databases  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(databases, 'STREAM_MIN_BYTES', 0)
  streamed = hmmer.jackhmmer('query', search_db.query, str(search_db.fasta), 10000, cpus=1)
  assert stockholm_rows(streamed)[:2] == stockholm_rows(uniref_sto)[:2]
  databases.check_database(str(search_db.fasta))
