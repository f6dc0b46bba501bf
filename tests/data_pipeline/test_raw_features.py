"""Tests of data_pipeline.raw_features against AF2's make_sequence_features / make_msa_features."""

import numpy as np
import pytest

import data_pipeline
from data_pipeline import parsers, raw_features
from data_pipeline.errors import InvalidSequenceError, MsaError, PipelineError
from tests.oracle import requires_oracle

pytestmark = requires_oracle

MSA_SETS = {
    'af2_pipeline_example': ['bfd_uniclust_hits.a3m', 'mgnify_hits.sto', 'uniref90_hits.sto'],
    'egf_1A3P_A': ['bfd_uniclust_hits.a3m', 'mgnify_hits.a3m', 'uniref90_hits.a3m'],
    'xylanase_6KWC_1': ['bfd_uniref_hits.a3m', 'mgnify_hits.sto'],
    'myoglobin_102M_A': ['102m_A.a3m'],
}


def _parse(module, path):
  text = path.read_text()
  return module.parse_a3m(text) if path.suffix == '.a3m' else module.parse_stockholm(text)


def _assert_features_equal(ours, ref):
  assert set(ours) == set(ref)
  for key in ref:
    assert ours[key].dtype == ref[key].dtype, key
    assert ours[key].shape == ref[key].shape, key
    np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)


@pytest.mark.parametrize('name', sorted(MSA_SETS))
def test_raw_features_match_oracle_on_real_msas(data_dir, name):
  from alphafold.data import parsers as af_parsers
  from alphafold.data import pipeline as af_pipeline
  paths = [data_dir / 'msa' / name / f for f in MSA_SETS[name]]
  ours_msas = [_parse(parsers, p) for p in paths]
  ref_msas = [_parse(af_parsers, p) for p in paths]
  sequence = ours_msas[0].sequences[0]
  ours = data_pipeline.make_raw_features(sequence, f'{name} query', ours_msas)
  ref = {**af_pipeline.make_sequence_features(sequence, f'{name} query', len(sequence)),
         **af_pipeline.make_msa_features(ref_msas)}
  # The colabfold oracle does not de-duplicate (AF2 v2.3 does): keep its first occurrences.
  first = {}
  for index, row in enumerate(s for m in ref_msas for s in m.sequences):
    first.setdefault(row, index)
  keep = np.array(sorted(first.values()))
  assert len(keep) < sum(map(len, ref_msas)), 'expected duplicates in the merged real MSAs'
  for key in ('msa', 'deletion_matrix_int', 'msa_species_identifiers'):
    ref[key] = ref[key][keep]
  ref['num_alignments'] = np.full_like(ref['num_alignments'], len(keep))
  _assert_features_equal(ours, ref)
  assert len(set(map(bytes, ours['msa']))) == len(ours['msa'])


def test_single_sequence_gives_one_row_msa():
  from alphafold.data import parsers as af_parsers
  from alphafold.data import pipeline as af_pipeline
  sequence = 'MKVLAAGIVGBZUXW'
  ours = data_pipeline.make_raw_features(sequence, 'single', None)
  assert ours['msa'].shape == (1, len(sequence)) and ours['num_alignments'][0] == 1
  ref_msa = af_parsers.Msa(sequences=[sequence], deletion_matrix=[[0] * len(sequence)],
                           descriptions=['single'])
  ref = {**af_pipeline.make_sequence_features(sequence, 'single', len(sequence)),
         **af_pipeline.make_msa_features([ref_msa])}
  _assert_features_equal(ours, ref)
  _assert_features_equal(data_pipeline.make_raw_features(sequence, 'single', []), ref)
  # B, Z, U are X in aatype (AF2) but D, E, C in the HHblits MSA alphabet.
  assert ours['aatype'][11:14, 20].tolist() == [1, 1, 1]


def test_duplicates_across_msas_keep_first_occurrence():
  rng = np.random.default_rng(11)
  aa = np.array(list('ACDEFGHIKLMNPQRSTVWY'))
  query = ''.join(rng.choice(aa, 13))
  rows = [''.join(rng.choice(aa, 13)) for _ in range(5)]
  msa_a = parsers.Msa([query] + rows[:3], [[0] * 13, [1] * 13, [2] * 13, [3] * 13],
                      ['q', 'a1', 'a2', 'a3'])
  msa_b = parsers.Msa([query, rows[2], rows[4], rows[0]], [[0] * 13, [7] * 13, [5] * 13, [9] * 13],
                      ['q', 'b1', 'b2', 'b3'])
  feats = data_pipeline.make_raw_features(query, 'q', [msa_a, msa_b])
  assert feats['msa'].shape == (5, 13) and feats['num_alignments'][0] == 5
  assert feats['deletion_matrix_int'][:, 0].tolist() == [0, 1, 2, 3, 5]


def test_species_identifier_matches_oracle():
  from alphafold.data import msa_identifiers
  descriptions = ['tr|A0A146SKV9|A0A146SKV9_FUNHE/12-80 Uncharacterized protein',
                  'sp|P0C2L1|A3X1_LOXLA', 'sp|P0C2L1_1|A3X1_LOXLA_12', 'tr|Q5T1|X_Y',
                  'UniRef90_D7BIZ4/1-73', '', '  ', 'sp|P12345|ABC_HUMAN extra words',
                  'tr|ABCDEFGHIJKL|X_MOUSE']
  for description in descriptions:
    ref = msa_identifiers.get_identifiers(description).species_id
    assert raw_features.species_identifier(description) == ref, description
  assert raw_features.species_identifier(descriptions[0]) == 'FUNHE'


@pytest.mark.parametrize('sequence, fragment', [
    ('ACDE1FG', r"'1' at position 5"),
    ('acdef', r"'a' at position 1"),
    ('ACD EF', r"' ' at position 4"),
    ('ACDEFÅ', r"'Å' at position 6"),
    ('', 'empty'),
])
def test_invalid_sequence_names_letter_and_position(sequence, fragment):
  with pytest.raises(InvalidSequenceError, match=fragment):
    data_pipeline.make_raw_features(sequence, 'bad', None)


def test_bad_msas_raise_clear_errors():
  query = 'ACDEFGHIK'
  good = parsers.Msa([query, 'ACDEF-HIK'], [[0] * 9, [0] * 9], ['q', 'h'])
  with pytest.raises(MsaError, match='MSA 1 is empty'):
    data_pipeline.make_raw_features(query, 'q', [good, parsers.Msa([], [], [])])
  mismatched = parsers.Msa(['ACDEYGHIK'], [[0] * 9], ['q'])
  with pytest.raises(MsaError, match=r"MSA 1 query.*position 5 is 'Y'.*'F'"):
    data_pipeline.make_raw_features(query, 'q', [good, mismatched])
  with pytest.raises(MsaError, match='8 columns'):
    data_pipeline.make_raw_features(query, 'q', [parsers.Msa(['ACDEFGHI'], [[0] * 8], ['q'])])
  bad_char = parsers.Msa([query, 'ACD*FGHIK'], [[0] * 9, [0] * 9], ['q', 'h'])
  with pytest.raises(InvalidSequenceError, match=r"MSA 0 row 1.*'\*' at column 4"):
    data_pipeline.make_raw_features(query, 'q', [bad_char])
  with pytest.raises(PipelineError):
    raw_features.make_msa_features([])
  assert issubclass(PipelineError, ValueError)
