"""Template features equal AF2's featurizer (alphafold-colabfold oracle) on hits built from the
shared structures: exact hit, realigned hit, date cutoff (mmCIF and release-dates file),
duplicate, obsolete (replaced / removed), corrupt and missing mmCIF, MSE.

The oracle calls a `kalign` binary (absent here): its aligner is replaced by ours
(`realign.kalign_align`, kalign-python), so both sides realign with the same alignment. The
oracle aborts on a missing mmCIF file (FileNotFoundError), so it is given the hits without 5mis;
ours skips that hit with a warning naming the file and must produce the same features.
The oracle applies only the date prefilter (see filters.py DISCREPANCY); our side runs with
`PrefilterSettings(0, 0, 0)` for the comparison, and a separate test checks DeepMind's filters.
"""

import numpy as np
import pytest

from tests.oracle import oracle_import, requires_oracle

from data_pipeline.templates import PrefilterSettings, TemplateFeaturizer, TemplateHit
from data_pipeline.templates.realign import kalign_align

pytestmark = requires_oracle


NO_FILTERS = PrefilterSettings(max_subsequence_ratio=1.0, min_align_ratio=0.0, min_length=0)


@pytest.fixture()
def oracle(monkeypatch):
  templates = oracle_import('alphafold.data.templates')
  from alphafold.data import parsers as af_parsers  # pylint: disable=import-outside-toplevel
  from alphafold.data.tools import kalign  # pylint: disable=import-outside-toplevel

  def align(_self, sequences):
    rows = kalign_align(sequences)
    return ''.join(f'>s{i}\n{row}\n' for i, row in enumerate(rows))
  monkeypatch.setattr(kalign.Kalign, 'align', align)
  return templates, af_parsers


def _featurizers(db, templates, kind, max_hits):
  cls = templates.HmmsearchHitFeaturizer if kind == 'hmmsearch' else \
      templates.HhsearchHitFeaturizer
  theirs = cls(mmcif_dir=str(db.mmcif_dir), max_template_date=db.max_date, max_hits=max_hits,
               kalign_binary_path='kalign', release_dates_path=str(db.release_dates),
               obsolete_pdbs_path=str(db.obsolete))
  ours = TemplateFeaturizer(str(db.mmcif_dir), db.max_date, max_hits=max_hits, kind=kind,
                            obsolete_path=str(db.obsolete),
                            release_dates_path=str(db.release_dates), prefilter=NO_FILTERS)
  return theirs, ours


def _assert_equal(ours, theirs):
  assert set(ours) == set(theirs)
  for key in theirs:
    a, b = np.asarray(ours[key]), np.asarray(theirs[key])
    assert a.shape == b.shape, key
    assert a.dtype == b.dtype, key
    if key == 'template_all_atom_positions':
      assert np.max(np.abs(a - b), initial=0.0) <= 1e-5, key
    else:
      np.testing.assert_array_equal(a, b, err_msg=key)


@pytest.mark.parametrize('kind', ['hmmsearch', 'hhsearch'])
def test_features_equal_oracle(template_db, oracle, hit_maker, kind):
  templates, af_parsers = oracle
  theirs_f, ours_f = _featurizers(template_db, templates, kind, max_hits=20)
  specs = template_db.specs
  ours = ours_f.get_templates(template_db.query,
                              hit_maker(TemplateHit, specs, kind == 'hmmsearch'))
  present = [s for s in specs if s[0] != '5mis_A']
  theirs = theirs_f.get_templates(template_db.query,
                                  hit_maker(af_parsers.TemplateHit, present, kind == 'hmmsearch'))
  _assert_equal(ours.features, theirs.features)
  names = [n.decode() for n in theirs.features['template_domain_names']]
  # Kept, in order: exact, realigned (author chain B), 1stn, 6obs -> 1stn, 2rn2, 1jbb; hhsearch
  # also keeps the duplicates 4dup and 8mse (MSE; same template_sequence as 102m), hmmsearch
  # drops them. Dropped: 3new, 3nxx (date), 9bad (corrupt), 5mis (missing), 7rem (removed).
  dup = kind == 'hhsearch'
  expected = ['102m_A', '2mbo_B'] + (['4dup_A'] if dup else []) + [
      '1stn_A', '1stn_A', '2rn2_A', '1jbb_A'] + (['8mse_A'] if dup else [])
  assert names == expected == ours.kept
  assert any('5mis' in w and '5mis.cif' in w for w in ours.warnings)
  assert any('9bad' in w for w in ours.warnings)
  assert any('7rem' in w for w in ours.warnings)


def test_max_hits_and_order_equal_oracle(template_db, oracle, hit_maker):
  templates, af_parsers = oracle
  theirs_f, ours_f = _featurizers(template_db, templates, 'hhsearch', max_hits=4)
  present = [s for s in template_db.specs if s[0] != '5mis_A']
  ours = ours_f.get_templates(template_db.query, hit_maker(TemplateHit, present[::-1], False))
  theirs = theirs_f.get_templates(template_db.query,
                                  hit_maker(af_parsers.TemplateHit, present[::-1], False))
  _assert_equal(ours.features, theirs.features)
  assert ours.kept == ['102m_A', '2mbo_B', '4dup_A', '1stn_A']  # by sum_probs, not file order


def test_nothing_survives_equals_oracle_placeholder(template_db, oracle, hit_maker):
  templates, af_parsers = oracle
  theirs_f, ours_f = _featurizers(template_db, templates, 'hmmsearch', max_hits=20)
  dropped = [s for s in template_db.specs if s[0] in ('3new_A', '3nxx_A', '7rem_A')]
  ours = ours_f.get_templates(template_db.query, hit_maker(TemplateHit, dropped, True))
  theirs = theirs_f.get_templates(template_db.query,
                                  hit_maker(af_parsers.TemplateHit, dropped, True))
  _assert_equal(ours.features, theirs.features)
  assert ours.kept == []


def test_realigned_hit_maps_through_mutations(template_db, hit_maker):
  """2mbo's SEQRES has 2 extra N-terminal residues: realignment shifts every index by 2, so
  the query residue i gets mmCIF residue i (coordinates identical to 102m's)."""
  f = TemplateFeaturizer(str(template_db.mmcif_dir), template_db.max_date, prefilter=NO_FILTERS)
  specs = [s for s in template_db.specs if s[0] in ('102m_A', '2mbo_B')]
  result = f.get_templates(template_db.query, hit_maker(TemplateHit, specs, True))
  pos = result.features['template_all_atom_positions']
  ca = 1
  assert np.allclose(pos[0, :, ca], pos[1, :, ca], atol=1e-3)
  seq = result.features['template_sequence'][1].decode()
  assert sum(a != b for a, b in zip(seq, template_db.query)) == 3
  assert any('realigned' in w for w in result.warnings)


def test_placeholder_and_zero_templates_process(template_db):
  """AF2's hmmsearch placeholder (sum_probs of shape [1]) and zero templates both go through
  the processed-feature pipeline of model_1 (padded to max_templates)."""
  from data_pipeline import make_raw_features, process_features  # pylint: disable=import-outside-toplevel
  from data_pipeline.processed_features import FeatureConfig  # pylint: disable=import-outside-toplevel
  from data_pipeline.templates import empty_template_features  # pylint: disable=import-outside-toplevel
  config = FeatureConfig(use_templates=True, max_templates=4, max_msa_clusters=8,
                         max_extra_msa=4, num_recycle=0)
  for placeholder in (True, False):
    raw = make_raw_features(template_db.query, 'q')
    raw.update(empty_template_features(len(template_db.query), placeholder=placeholder))
    batch = process_features(raw, config, 0)
    assert batch['template_aatype'].shape[1:3] == (4, len(template_db.query))
    assert batch['template_mask'][0].tolist() == [float(placeholder), 0, 0, 0]
