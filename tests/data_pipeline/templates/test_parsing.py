"""Template mmCIF parsing, hit parsers and filters: against the oracle where AF2 defines them,
and DeepMind's filters where the oracle differs."""

import datetime
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tests.oracle import oracle_import, requires_oracle

from data_pipeline.errors import PipelineError, TemplateError
from data_pipeline.templates import PrefilterSettings, TemplateFeaturizer, TemplateHit, parse_hhr
from data_pipeline.templates import filters
from data_pipeline.templates.custom import custom_template_features, global_alignment_mapping
from data_pipeline.templates.mmcif import parse_template_mmcif, read_template_mmcif


pytestmark = requires_oracle


def _hhr(specs, query_name='query'):
  """An .hhr text (HHsearch layout: name field of 15 characters, blocks of 80 columns)."""
  lines = [f'Query         {query_name}', '', ' No Hit                             Prob', '']
  for number, (name, q0, qa, t0, ta, probs) in enumerate(specs, start=1):
    lines += [f'No {number}', f'>{name} some description',
              f'Probab=99.90  E-value=1e-30  Score=200.00  Aligned_cols={len(qa)}  '
              f'Identities=50%  Similarity=0.900  Sum_probs={probs:.1f}  Template_Neff=5.000',
              '']
    qi, ti = q0, t0
    for start in range(0, len(qa), 80):
      qc, tc = qa[start:start + 80], ta[start:start + 80]
      qn, tn = sum(c != '-' for c in qc), sum(c != '-' for c in tc)
      lines.append(f'Q {"query":<15}{qi + 1:>4} {qc} {qi + qn:>4} (154)')
      lines.append(f'Q Consensus      {qi + 1:>4} {qc.lower()} {qi + qn:>4} (154)')
      lines.append(f'T Consensus      {ti + 1:>4} {tc.lower()} {ti + tn:>4} (200)')
      lines.append(f'T {name:<15}{ti + 1:>4} {tc} {ti + tn:>4} (200)')
      lines.append('')
      qi, ti = qi + qn, ti + tn
  return '\n'.join(lines) + '\n'


def test_hhr_parse_equals_oracle(template_db):
  af_parsers = oracle_import('alphafold.data.parsers')
  text = _hhr(template_db.specs)
  ours, theirs = parse_hhr(text), af_parsers.parse_hhr(text)
  assert len(ours) == len(theirs) == len(template_db.specs)
  for a, b in zip(ours, theirs):
    assert (a.index, a.name, a.aligned_cols, a.sum_probs, a.query, a.hit_sequence,
            list(a.indices_query), list(a.indices_hit)) == (
                b.index, b.name, b.aligned_cols, b.sum_probs, b.query, b.hit_sequence,
                list(b.indices_query), list(b.indices_hit))


def test_hhr_hits_give_oracle_features(template_db, monkeypatch):
  templates = oracle_import('alphafold.data.templates')
  from alphafold.data import parsers as af_parsers  # pylint: disable=import-outside-toplevel
  specs = [s for s in template_db.specs if s[0] in ('102m_A', '1stn_A', '2rn2_A', '1jbb_A')]
  text = _hhr(specs)
  theirs = templates.HhsearchHitFeaturizer(
      mmcif_dir=str(template_db.mmcif_dir), max_template_date=template_db.max_date, max_hits=20,
      kalign_binary_path='kalign', release_dates_path=None, obsolete_pdbs_path=None
  ).get_templates(template_db.query, af_parsers.parse_hhr(text)).features
  ours = TemplateFeaturizer(str(template_db.mmcif_dir), template_db.max_date, kind='hhsearch',
                            prefilter=PrefilterSettings(1.0, 0.0, 0)
                            ).get_templates(template_db.query, parse_hhr(text)).features
  for key, value in theirs.items():
    if key == 'template_all_atom_positions':
      assert np.abs(ours[key] - value).max() <= 1e-5
    else:
      np.testing.assert_array_equal(ours[key], value, err_msg=key)


@pytest.mark.parametrize('file_id', ['102m', '2mbo', '8mse', '1stn'])
def test_mmcif_parse_equals_oracle(template_db, file_id):
  mmcif_parsing = oracle_import('alphafold.data.mmcif_parsing')
  text = (template_db.mmcif_dir / f'{file_id}.cif').read_text()
  ours = parse_template_mmcif(text, file_id)
  theirs = mmcif_parsing.parse(file_id=file_id, mmcif_string=text).mmcif_object
  assert str(ours.release_date) == theirs.header['release_date']
  assert ours.resolution == theirs.header['resolution']
  assert ours.structure_method == theirs.header['structure_method']
  if file_id == '8mse':  # oracle: MSE -> X (PDBData), DeepMind (SCOPData) and ours: M
    assert theirs.chain_to_seqres['A'][0] == 'X' and ours.chain_to_seqres['A'][0] == 'M'
    assert ours.chain_to_seqres['A'][1:] == theirs.chain_to_seqres['A'][1:]
  else:
    assert ours.chain_to_seqres == theirs.chain_to_seqres
  for chain, mapping in theirs.seqres_to_structure.items():
    assert sorted(mapping) == sorted(ours.seqres_to_structure[chain])
    for i, at in mapping.items():
      mine = ours.seqres_to_structure[chain][i]
      assert mine.is_missing == at.is_missing and mine.name == at.name
      if not at.is_missing:
        assert (mine.residue_number, mine.insertion_code, mine.hetflag) == (
            at.position.residue_number, at.position.insertion_code, at.hetflag)


def test_mmcif_author_chain_unresolved_seqres(template_db):
  mmcif = read_template_mmcif(str(template_db.mmcif_dir / '2mbo.cif'), '2mbo')
  assert list(mmcif.chain_to_seqres) == ['B']  # author id, not the label id C
  assert mmcif.chain_to_seqres['B'].startswith('MG')
  assert mmcif.seqres_to_structure['B'][0].is_missing
  assert not mmcif.seqres_to_structure['B'][2].is_missing
  assert mmcif.release_date == datetime.date(1999, 1, 1)


def test_corrupt_and_missing_mmcif_are_one_line_errors(template_db, tmp_path):
  with pytest.raises(TemplateError, match=r'9bad\.cif: malformed mmCIF') as info:
    read_template_mmcif(str(template_db.mmcif_dir / '9bad.cif'), '9bad')
  assert '\n' not in str(info.value) and isinstance(info.value, PipelineError)
  with pytest.raises(TemplateError, match=r'nope\.cif: mmCIF file not found'):
    read_template_mmcif(str(tmp_path / 'nope.cif'), 'nope')


def test_hit_name_without_pdb_id_is_an_input_error(template_db):
  featurizer = TemplateFeaturizer(str(template_db.mmcif_dir), template_db.max_date)
  bad = TemplateHit(1, 'not-a-pdb-id', 10, None, 'A' * 10, 'A' * 10, list(range(10)),
                    list(range(10)))
  with pytest.raises(TemplateError, match='does not start with PDBID_CHAIN'):
    featurizer.get_templates(template_db.query, [bad])


def test_deepmind_prefilters(template_db, hit_maker):
  """AF2 v2.3 (DeepMind): the query itself (duplicate, 100 % length), a 5 % alignment and a
  9-residue hit are dropped before any mmCIF is read; the oracle would keep them."""
  query = template_db.query
  specs = [('102m_A', 0, query, 0, query, 100.0),                     # duplicate of the query
           ('1stn_A', 0, query[:15], 0, 'A' * 15, 90.0),              # align ratio 0.097
           ('2rn2_A', 0, query[:20], 0, 'A' * 9 + '-' * 11, 80.0),    # 9 residues
           next(s for s in template_db.specs if s[0] == '1jbb_A')]    # kept
  result = TemplateFeaturizer(str(template_db.mmcif_dir), template_db.max_date, kind='hhsearch'
                              ).get_templates(query, hit_maker(TemplateHit, specs, False))
  assert result.kept == ['1jbb_A']
  hit = hit_maker(TemplateHit, specs[:1], False)[0]
  with pytest.raises(filters.DuplicateError):
    filters.prefilter(hit, '102m', query, {}, datetime.date(2020, 1, 1))
  # 95 % of the query is still a duplicate, 94 % is not (max_subsequence_ratio 0.95).
  for length, dup in ((147, True), (145, False)):
    hit = hit_maker(TemplateHit, [('102m_A', 0, query[:length], 0, query[:length], 1.0)],
                    False)[0]
    if dup:
      with pytest.raises(filters.DuplicateError):
        filters.prefilter(hit, '102m', query, {}, datetime.date(2020, 1, 1))
    else:
      filters.prefilter(hit, '102m', query, {}, datetime.date(2020, 1, 1))


def test_obsolete_and_release_dates_parsing(template_db):
  obsolete = filters.parse_obsolete(template_db.obsolete.read_text())
  assert obsolete == {'6obs': '1stn', '7rem': None}
  dates = filters.parse_release_dates(template_db.release_dates.read_text())
  assert filters.resolve_obsolete('6obs', obsolete, dates) == '1stn'
  assert filters.resolve_obsolete('7rem', obsolete, dates) is None
  with pytest.raises(TemplateError, match='line 1 is not "PDBID: YYYY-MM-DD"'):
    filters.parse_release_dates('3abc 2020\n', 'dates.txt')
  af_templates = oracle_import('alphafold.data.templates')
  assert af_templates._parse_obsolete(str(template_db.obsolete)) == obsolete  # pylint: disable=protected-access


def test_custom_templates_global_alignment(template_db, tmp_path):
  """A template file covering query residues 20..119 (the 102M chain cut): global alignment
  maps them to the same positions, the rest stays empty; non-structure files are errors."""
  from alphafold_jax.common.structure_io import parse_chain  # pylint: disable=import-outside-toplevel
  from data_pipeline.templates.mmcif_writer import chain_to_mmcif  # pylint: disable=import-outside-toplevel
  full = parse_chain((template_db.mmcif_dir / '102m.cif').read_text(), 'mmcif')
  cut = {k: (v[20:120] if isinstance(v, np.ndarray) else v) for k, v in full.items()}
  folder = tmp_path / 'custom'
  folder.mkdir()
  (folder / 'piece.cif').write_text(chain_to_mmcif(cut, 'piec', '2000-01-01'))
  features, names = custom_template_features(str(folder), template_db.query)
  assert names == ['piece_A']
  mask = features['template_all_atom_masks'][0, :, 1]  # CA
  assert mask[20:120].all() and not mask[:20].any() and not mask[120:].any()
  np.testing.assert_allclose(features['template_all_atom_positions'][0, 20:120],
                             full['atom_positions'][20:120], atol=1e-3)
  assert global_alignment_mapping('MKVLWYGHPE', 'KVLWYGHPE') == {i: i - 1 for i in range(1, 10)}
  (folder / 'notes.txt').write_text('hello')
  with pytest.raises(TemplateError, match=r'notes\.txt: not a PDB/mmCIF file'):
    custom_template_features(str(folder), template_db.query)


def test_data_pipeline_never_imports_jax():
  code = ('import sys, data_pipeline.templates, data_pipeline.search, '
          'data_pipeline.search.pipeline, data_pipeline.templates.custom; '
          'print("jax" in sys.modules)')
  root = str(pathlib.Path(__file__).resolve().parents[3])
  env = {**os.environ, 'PYTHONPATH': root}
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                       cwd=root, env=env)
  assert out.stdout.strip() == 'False'
