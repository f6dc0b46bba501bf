"""A template 'PDB' built from the shared structures, and hit specs that exercise every filter.

`template_db` (session fixture) writes into a temporary folder:
  mmcif/102m.cif   the real 102M entry (released 1998-04-08): the exact template of the query
  mmcif/2mbo.cif   102M with 3 point mutations, 2 unresolved SEQRES residues in front, label
                   chain C / author chain B: its hit (the unmutated sequence) needs realignment
  mmcif/4dup.cif   102M again under another id: a duplicate template (same template_sequence)
  mmcif/8mse.cif   102M with residue 0 written as MSE (SE atom): MSE -> MET
  mmcif/3new.cif   2LZM chain A released 2030-01-01: past the date cutoff (read from the mmCIF)
  mmcif/1stn.cif, 2rn2.cif, 1jbb.cif   other structures, locally aligned to parts of the query
  mmcif/9bad.cif   a corrupt mmCIF (truncated text)
  obsolete.dat     6obs -> 1stn (replaced), 7rem (removed)
  release_dates.txt  3nxx released 2031 (prefiltered by date before any file is read)
and no file for 5mis (a hit with a missing mmCIF).

`HIT_SPECS`: (name, query start, aligned query, template start, aligned template, sum_probs).
"""

import dataclasses
import pathlib
import shutil

import pytest

from alphafold_jax.common.structure_io import parse_chain, read_structure_text
from data_pipeline.parsers import parse_a3m
from data_pipeline.templates.mmcif_writer import chain_to_mmcif

DATA = pathlib.Path(__file__).resolve().parents[2] / 'data'
MAX_DATE = '2020-01-01'


def _chain(path):
  text, fmt = read_structure_text(path)
  return parse_chain(text, fmt, source=str(path))


def _seq(arrays):
  from alphafold_jax.common import residues  # pylint: disable=import-outside-toplevel
  return ''.join(residues.restypes_with_x[a] for a in arrays['aatype'])


def _mutate(arrays, positions):
  """Copy of `arrays` with residues at `positions` turned into ALA/GLY names (atoms kept)."""
  from alphafold_jax.common import residues  # pylint: disable=import-outside-toplevel
  out = dict(arrays)
  aatype = arrays['aatype'].copy()
  for p in positions:
    aatype[p] = residues.restype_order['A'] if aatype[p] != residues.restype_order['A'] \
        else residues.restype_order['G']
  out['aatype'] = aatype
  return out


@dataclasses.dataclass
class TemplateDb:
  root: pathlib.Path
  mmcif_dir: pathlib.Path
  obsolete: pathlib.Path
  release_dates: pathlib.Path
  query: str
  specs: list  # (name, q_start, q_aligned, t_start, t_aligned, sum_probs)
  max_date: str = MAX_DATE


def _local(query, template, q0, t0, length, gap_at=None):
  """An ungapped local alignment query[q0:q0+length] ~ template[t0:t0+length], optionally with
  one query residue deleted in the template at offset `gap_at`."""
  qa = query[q0:q0 + length]
  ta = template[t0:t0 + length]
  if gap_at is not None:
    ta = ta[:gap_at] + '-' + ta[gap_at:-1]
  return qa, ta


@pytest.fixture(scope='session')
def template_db(tmp_path_factory):
  root = tmp_path_factory.mktemp('templates')
  mmcif = root / 'mmcif'
  mmcif.mkdir()
  query = parse_a3m((DATA / 'msa/myoglobin_102M_A/102m_A.a3m').read_text()).sequences[0]
  shutil.copy(DATA / 'structures/extra/102M.cif', mmcif / '102m.cif')
  myo = _chain(DATA / 'structures/extra/102M.cif')
  (mmcif / '2mbo.cif').write_text(chain_to_mmcif(
      _mutate(myo, [20, 60, 100]), '2mbo', '1999-01-01', author_chain='B', label_chain='C',
      seqres_prefix=['MET', 'GLY']))
  (mmcif / '4dup.cif').write_text(chain_to_mmcif(myo, '4dup', '2001-05-05'))
  (mmcif / '8mse.cif').write_text(chain_to_mmcif(myo, '8mse', '2002-02-02', rename={0: 'MSE'}))
  lzm = _chain(DATA / 'structures/extra/2LZM.pdb')
  (mmcif / '3new.cif').write_text(chain_to_mmcif(lzm, '3new', '2030-01-01'))
  others = {}
  for pdb_id, date in (('1STN', '1990-01-01'), ('2RN2', '1991-01-01'), ('1JBB', '1992-01-01')):
    arrays = _chain(DATA / f'structures/extra/{pdb_id}.pdb')
    others[pdb_id.lower()] = _seq(arrays)
    (mmcif / f'{pdb_id.lower()}.cif').write_text(
        chain_to_mmcif(arrays, pdb_id.lower(), date, extra_revision_dates=['2015-01-01']))
  good = (mmcif / '102m.cif').read_text()
  (mmcif / '9bad.cif').write_text(good[:len(good) // 3])
  obsolete = root / 'obsolete.dat'
  obsolete.write_text('LIST OF OBSOLETE COORDINATE ENTRIES AND SUCCESSORS\n'
                      'OBSLTE    01-JAN-00 6OBS     1STN\n'
                      'OBSLTE    01-JAN-00 7REM\n')
  release_dates = root / 'release_dates.txt'
  release_dates.write_text('3nxx: 2031-01-01\n102m: 1998-04-08\n')
  myo_seq = _seq(myo)
  assert myo_seq == query
  specs = [
      ('102m_A', 0, query, 0, myo_seq, 150.0),
      ('2mbo_B', 0, query, 0, myo_seq, 140.0),            # needs realignment (3 mutations)
      ('4dup_A', 0, query, 0, myo_seq, 130.0),            # duplicate of 102m_A
      ('3new_A', *_both(query, _seq(lzm), 5, 3, 120), 120.0),  # mmCIF released after cutoff
      ('5mis_A', 0, query, 0, myo_seq, 110.0),            # no mmCIF file
      ('3nxx_A', 0, query, 0, myo_seq, 105.0),            # release_dates.txt: after cutoff
      ('9bad_A', 0, query, 0, myo_seq, 100.0),            # corrupt mmCIF
      ('1stn_A', *_both(query, others['1stn'], 10, 4, 100, gap_at=40), 90.0),
      ('6obs_A', *_both(query, others['1stn'], 30, 20, 80), 85.0),  # obsolete -> 1stn
      ('7rem_A', 0, query, 0, myo_seq, 80.0),             # obsolete, removed
      ('2rn2_A', *_both(query, others['2rn2'], 20, 15, 110, gap_at=60), 70.0),
      ('1jbb_A', *_both(query, others['1jbb'], 2, 0, 140), 60.0),
      ('8mse_A', 0, query, 0, myo_seq, 50.0),             # MSE in the mmCIF
  ]
  return TemplateDb(root, mmcif, obsolete, release_dates, query, specs)


def _both(query, template, q0, t0, length, gap_at=None):
  qa, ta = _local(query, template, q0, t0, length, gap_at)
  return q0, qa, t0, ta


def residue_indices(aligned, start):
  out, counter = [], start
  for c in aligned:
    if c == '-':
      out.append(-1)
    else:
      out.append(counter)
      counter += 1
  return out


def make_hits(hit_class, specs, hmmsearch: bool):
  """Hits of `hit_class` (ours or the oracle's TemplateHit) from the specs.

  hmmsearch=True: sum_probs None, and (as hmmsearch output) `query` is the full query while the
  indices carry the alignment; else HHsearch style with the aligned fragment.
  """
  hits = []
  for index, (name, q0, qa, t0, ta, probs) in enumerate(specs, start=1):
    hits.append(hit_class(
        index=index, name=f'{name} mol:protein', aligned_cols=sum(
            a != '-' and b != '-' for a, b in zip(qa, ta)),
        sum_probs=None if hmmsearch else probs, query=qa, hit_sequence=ta,
        indices_query=residue_indices(qa, q0), indices_hit=residue_indices(ta, t0)))
  return hits


@pytest.fixture(scope='session')
def hit_maker():
  """`make_hits` (test modules cannot import conftest under --import-mode=importlib)."""
  return make_hits
