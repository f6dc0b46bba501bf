"""Structure I/O: every bundled structure parses; PDB/mmCIF writers round-trip through Biopython."""

import functools
import io
import json

import numpy as np
import pytest
from Bio.PDB import MMCIFParser, PDBParser
from Bio.PDB.MMCIF2Dict import MMCIF2Dict

from alphafold_jax.common import atoms
from alphafold_jax.common import protein
from alphafold_jax.common import residues
from tests.conftest import DATA_DIR
from tests.oracle import oracle_import, requires_oracle

pytestmark = requires_oracle

MANIFEST = json.loads((DATA_DIR / 'manifest.json').read_text())
FILES = [entry['file'] for entry in MANIFEST]


def _entry(file):
  return next(e for e in MANIFEST if e['file'] == file)


@functools.lru_cache(maxsize=None)
def _load(file):
  """Parsed once per session (Protein is frozen with read-only arrays)."""
  return protein.from_file(DATA_DIR / file)


@pytest.mark.parametrize('file', FILES)
def test_every_structure_parses_with_manifest_counts(file):
  chain = _entry(file)['chains'][0]
  prot = _load(file)
  assert prot.chain_id == chain['chain']
  assert prot.num_residues == chain['n_residues']
  assert prot.sequence == chain['sequence']
  assert str(prot.residue_index[0]) == chain['first']
  assert str(prot.residue_index[-1]) == chain['last']
  assert prot.atom_positions.shape == (prot.num_residues, 37, 3)
  # Only atoms of the residue type (plus OXT) are ever set.
  allowed = atoms.restype_atom37_mask[prot.aatype].copy()
  allowed[:, atoms.atom_order['OXT']] = 1
  assert np.all(prot.atom_mask <= allowed)
  assert np.all(prot.atom_positions[prot.atom_mask == 0] == 0)
  assert prot.atom_mask[:, atoms.atom_order['CA']].mean() > 0.95


# Altlocs (1LNI, 7RSA, 1BPI), hydrogens (7RSA, 1HIC), waters + ligands (1LNI, 1UBQ), offset
# numbering (1FNA).
ORACLE_FILES = ['structures/extra/1LNI.pdb', 'structures/extra/7RSA.pdb',
                'structures/extra/1BPI.pdb', 'structures/extra/1HIC.pdb',
                'structures/nano/1UBQ.pdb', 'structures/extra/1FNA.pdb']
# Raw-Biopython checks of the written files on a representative subset.
BIOPYTHON_FILES = ['structures/nano/1CRN.pdb', 'structures/extra/102M.cif',
                   'structures/extra/4ICB.pdb', 'structures/nano/1VII.pdb']


@pytest.mark.parametrize('file', ORACLE_FILES)
def test_pdb_reader_matches_oracle(file):
  """Same atoms, coordinates and B-factors as alphafold.common.protein on protein residues."""
  oracle = oracle_import('alphafold.common.protein')
  prot = _load(file)
  theirs = oracle.from_pdb_string((DATA_DIR / file).read_text(), chain_id=prot.chain_id)
  # The oracle keeps waters/ligands as residues too: align by author residue number.
  row = {}
  for k, resnum in enumerate(theirs.residue_index):
    if theirs.aatype[k] < 20 and theirs.atom_mask[k].any():
      row.setdefault(int(resnum), k)
  idx = np.array([row[int(r)] for r in prot.residue_index])
  np.testing.assert_array_equal(prot.aatype, theirs.aatype[idx])
  np.testing.assert_array_equal(prot.atom_mask, theirs.atom_mask[idx])
  np.testing.assert_allclose(prot.atom_positions, theirs.atom_positions[idx], atol=1e-5)
  np.testing.assert_allclose(prot.b_factors, theirs.b_factors[idx], atol=1e-4)


def _atoms_by_id(bio_model):
  """{(resnum, icode, atom name): (coord, bfactor)} of a Biopython model (single chain)."""
  out = {}
  for chain in bio_model:
    for residue in chain:
      for atom in residue:
        out[(residue.id[1], residue.id[2].strip(), atom.get_name())] = (
            atom.get_coord(), atom.get_bfactor())
  return out


def _expected_atoms(prot):
  out = {}
  for i in range(prot.num_residues):
    for slot in np.nonzero(prot.atom_mask[i])[0]:
      out[(int(prot.residue_index[i]), str(prot.insertion_codes[i]), atoms.atom_types[slot])] = (
          prot.atom_positions[i, slot], prot.b_factors[i, slot])
  return out


def _assert_same_atoms(got, expected):
  assert got.keys() == expected.keys()
  coords = np.array([got[k][0] for k in expected])
  want = np.array([expected[k][0] for k in expected])
  np.testing.assert_allclose(coords, want, atol=1e-3)
  np.testing.assert_allclose([got[k][1] for k in expected], [expected[k][1] for k in expected],
                             atol=6e-3)


@pytest.mark.parametrize('file', FILES)
def test_round_trip_both_writers(file):
  """to_pdb / to_mmcif then our (Biopython-based) readers: same arrays to file precision."""
  prot = _load(file)
  for text, reader in ((protein.to_pdb(prot), protein.from_pdb_string),
                       (protein.to_mmcif(prot), protein.from_mmcif_string)):
    again = reader(text)
    assert again.chain_id == prot.chain_id
    np.testing.assert_array_equal(again.aatype, prot.aatype)
    np.testing.assert_array_equal(again.residue_index, prot.residue_index)
    np.testing.assert_array_equal(again.atom_mask, prot.atom_mask)
    np.testing.assert_allclose(again.atom_positions, prot.atom_positions, atol=1e-3)
    np.testing.assert_allclose(again.b_factors, prot.b_factors, atol=6e-3)


@pytest.mark.parametrize('file', BIOPYTHON_FILES)
def test_written_files_read_back_with_plain_biopython(file):
  prot = _load(file)
  expected = _expected_atoms(prot)

  pdb_text = protein.to_pdb(prot)
  assert pdb_text.rstrip().endswith('END') and '\nTER' in pdb_text
  bio = PDBParser(QUIET=True).get_structure('x', io.StringIO(pdb_text))
  assert len(bio) == 1 and [c.id for c in bio[0]] == [prot.chain_id]
  _assert_same_atoms(_atoms_by_id(bio[0]), expected)

  cif_text = protein.to_mmcif(prot)
  bio = MMCIFParser(QUIET=True).get_structure('x', io.StringIO(cif_text))
  assert len(bio) == 1 and [c.id for c in bio[0]] == [prot.chain_id]
  _assert_same_atoms(_atoms_by_id(bio[0]), expected)
  table = MMCIF2Dict(io.StringIO(cif_text))
  assert len(table['_atom_site.Cartn_x']) == int(prot.atom_mask.sum())
  np.testing.assert_allclose(np.array(table['_atom_site.B_iso_or_equiv'], float),
                             [expected[k][1] for k in expected], atol=6e-3)
  assert ''.join(table['_entity_poly.pdbx_seq_one_letter_code_can']) == prot.sequence
  assert table['_entity_poly_seq.mon_id'] == [residues.resnames[a] for a in prot.aatype]


def test_writers_keep_random_b_factors_and_skip_masked_atoms(tmp_path):
  prot = _load('structures/nano/1CRN.pdb')
  rng = np.random.default_rng(7)
  plddt = np.round(rng.uniform(0, 100, size=prot.num_residues), 2)
  mask = prot.atom_mask * (rng.uniform(size=prot.atom_mask.shape) > 0.2)
  edited = prot.replace(b_factors=plddt[:, None] * mask, atom_mask=mask,
                        atom_positions=prot.atom_positions * mask[..., None])
  for suffix in ('pdb', 'cif'):
    path = tmp_path / f'out.{suffix}'
    protein.write_file(edited, path)
    back = protein.from_file(path)
    np.testing.assert_array_equal(back.atom_mask, edited.atom_mask)
    np.testing.assert_allclose(back.b_factors, edited.b_factors, atol=6e-3)


def test_nmr_ensemble_gives_first_model_only():
  text = (DATA_DIR / 'structures/nano/1L2Y.pdb').read_text()
  prot = protein.from_pdb_string(text)
  assert prot.num_residues == 20
  models = PDBParser(QUIET=True).get_structure('x', io.StringIO(text))
  assert len(models) == 38
  first = _atoms_by_id(models[0])
  second = _atoms_by_id(models[1])
  for (resnum, _, name), (coord, _) in first.items():
    if name in atoms.atom_order:
      row = int(np.nonzero(prot.residue_index == resnum)[0][0])
      np.testing.assert_allclose(prot.atom_positions[row, atoms.atom_order[name]], coord)
  ca = atoms.atom_order['CA']
  model2_ca = np.array([second[(int(r), '', 'CA')][0] for r in prot.residue_index])
  assert np.abs(prot.atom_positions[:, ca] - model2_ca).max() > 0.1


def _heavy_atom_lines(text, first_model_only=True):
  """(resnum, name) -> list of (altloc, occupancy, xyz) from raw fixed-column ATOM records."""
  out = {}
  for line in text.splitlines():
    if first_model_only and line.startswith('ENDMDL'):
      break
    if not line.startswith('ATOM'):
      continue
    element = line[76:78].strip() or line[12:14].strip()[0]
    if element in ('H', 'D'):
      continue
    key = (int(line[22:26]), line[12:16].strip())
    xyz = [float(line[30:38]), float(line[38:46]), float(line[46:54])]
    out.setdefault(key, []).append((line[16], float(line[54:60]), xyz))
  return out


@pytest.mark.parametrize('file', ['structures/nano/2GB1.pdb', 'structures/extra/1SAP.pdb',
                                  'structures/nano/1L2Y.pdb'])
def test_files_with_hydrogens_give_heavy_atom_masks(file):
  text = (DATA_DIR / file).read_text()
  prot = protein.from_pdb_string(text)
  expected = np.zeros_like(prot.atom_mask)
  rows = {int(r): i for i, r in enumerate(prot.residue_index)}
  for (resnum, name) in _heavy_atom_lines(text):
    expected[rows[resnum], atoms.atom_order[name]] = 1
  np.testing.assert_array_equal(prot.atom_mask, expected)
  assert 'H' in {line[76:78].strip() for line in text.splitlines() if line.startswith('ATOM')}


@pytest.mark.parametrize('file', ['structures/extra/1LNI.pdb', 'structures/extra/7RSA.pdb',
                                  'structures/extra/3EBX.pdb'])
def test_altlocs_pick_highest_occupancy(file):
  text = (DATA_DIR / file).read_text()
  prot = protein.from_pdb_string(text)
  rows = {int(r): i for i, r in enumerate(prot.residue_index)}
  n_alt = 0
  for (resnum, name), variants in _heavy_atom_lines(text).items():
    best = variants[0]
    for v in variants[1:]:
      if v[1] > best[1]:
        best = v
    n_alt += len(variants) > 1
    np.testing.assert_allclose(prot.atom_positions[rows[resnum], atoms.atom_order[name]],
                               best[2], atol=1e-5)
    assert prot.atom_mask[rows[resnum], atoms.atom_order[name]] == 1
  assert n_alt > 5
