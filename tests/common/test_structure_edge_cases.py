"""Edge cases of the structure reader: missing atoms, modified/unknown residues, chains."""

import dataclasses

import numpy as np
import pytest

from alphafold_jax.common import atoms
from alphafold_jax.common import protein
from alphafold_jax.common import residues
from tests.conftest import DATA_DIR

CRN_TEXT = (DATA_DIR / 'structures/nano/1CRN.pdb').read_text()
UBQ_TEXT = (DATA_DIR / 'structures/nano/1UBQ.pdb').read_text()
CRN = protein.from_pdb_string(CRN_TEXT)
UBQ = protein.from_pdb_string(UBQ_TEXT)


def _edit_atom_lines(text, fn):
  """Applies fn(line) -> line or None (drop) to ATOM/HETATM records."""
  out = []
  for line in text.splitlines():
    if line.startswith(('ATOM', 'HETATM')):
      line = fn(line)
      if line is None:
        continue
    out.append(line)
  return '\n'.join(out) + '\n'


def _resnum(line):
  return int(line[22:26])


def _name(line):
  return line[12:16].strip()


@pytest.mark.parametrize('resnum,atom', [(3, 'CA'), (11, 'N'), (29, 'C'), (44, 'O')])
def test_deleted_backbone_atom_is_masked(resnum, atom):
  text = _edit_atom_lines(CRN_TEXT, lambda l: None if (_resnum(l), _name(l)) == (resnum, atom) else l)
  prot = protein.from_pdb_string(text)
  assert prot.num_residues == 46
  row = resnum - 1
  slot = atoms.atom_order[atom]
  assert prot.atom_mask[row, slot] == 0 and np.all(prot.atom_positions[row, slot] == 0)
  expected = CRN.atom_mask.copy()
  expected[row, slot] = 0
  np.testing.assert_array_equal(prot.atom_mask, expected)
  np.testing.assert_array_equal(prot.atom_positions[expected > 0], CRN.atom_positions[expected > 0])


def test_residue_with_whole_backbone_missing_is_kept():
  backbone = {'N', 'CA', 'C', 'O'}
  text = _edit_atom_lines(CRN_TEXT, lambda l: None if _resnum(l) == 13 and _name(l) in backbone else l)
  prot = protein.from_pdb_string(text)
  assert prot.num_residues == 46 and prot.sequence == CRN.sequence
  assert prot.atom_mask[12, :5].tolist() == [0, 0, 0, CRN.atom_mask[12, 3], 0]
  assert prot.atom_mask[12].sum() == CRN.atom_mask[12].sum() - 4


def _as_mse(line):
  if _resnum(line) != 1:
    return line
  line = 'HETATM' + line[6:17] + 'MSE' + line[20:]
  if _name(line) == 'SD':
    line = line[:12] + 'SE  ' + line[16:76] + 'SE' + line[78:]
  return line


def test_selenomethionine_maps_to_met_with_se_as_sd():
  prot = protein.from_pdb_string(_edit_atom_lines(UBQ_TEXT, _as_mse))
  assert prot.aatype[0] == residues.restype_order['M'] and prot.sequence == UBQ.sequence
  np.testing.assert_array_equal(prot.atom_mask, UBQ.atom_mask)
  sd = atoms.atom_order['SD']
  np.testing.assert_array_equal(prot.atom_positions[0, sd], UBQ.atom_positions[0, sd])


def test_unknown_atom_residue_is_unk_and_hetatm_ligand_skipped():
  rename = lambda l: l[:17] + 'XYZ' + l[20:] if _resnum(l) == 7 else l
  prot = protein.from_pdb_string(_edit_atom_lines(CRN_TEXT, rename))
  assert prot.num_residues == 46 and prot.aatype[6] == residues.unk_restype_index
  assert prot.sequence[6] == 'X'
  # UNK keeps its atom37-named atoms (backbone etc.).
  ca = atoms.atom_order['CA']
  np.testing.assert_array_equal(prot.atom_positions[6, ca], CRN.atom_positions[6, ca])
  as_het = lambda l: 'HETATM' + l[6:17] + 'XYZ' + l[20:] if _resnum(l) == 7 else l
  prot = protein.from_pdb_string(_edit_atom_lines(CRN_TEXT, as_het))
  assert prot.num_residues == 45 and 7 not in prot.residue_index.tolist()


def _with_chain_b(text, shift):
  lines = [l for l in text.splitlines() if l.startswith('ATOM')]
  moved = []
  for l in lines:
    xyz = [float(l[30:38]) + shift, float(l[38:46]), float(l[46:54])]
    moved.append(l[:21] + 'B' + l[22:30] + ''.join(f'{v:8.3f}' for v in xyz) + l[54:])
  return '\n'.join(lines + ['TER'] + moved + ['END']) + '\n'


def test_multichain_default_and_explicit_selection():
  text = _with_chain_b(CRN_TEXT, 50.0)
  first = protein.from_pdb_string(text)
  second = protein.from_pdb_string(text, chain_id='B')
  assert first.chain_id == 'A' and second.chain_id == 'B'
  np.testing.assert_allclose(second.atom_positions[..., 0] - first.atom_positions[..., 0],
                             50.0 * first.atom_mask, atol=1e-3)
  for writer, reader in ((protein.to_pdb, protein.from_pdb_string),
                         (protein.to_mmcif, protein.from_mmcif_string)):
    back = reader(writer(second), chain_id='B')
    np.testing.assert_allclose(back.atom_positions, second.atom_positions, atol=1e-3)


def test_insertion_codes_survive_round_trip():
  def insert(line):
    n = _resnum(line)
    if n >= 20:
      return line[:22] + f'{n - 1:4d}' + ('A' if n == 20 else ' ') + line[27:]
    return line
  prot = protein.from_pdb_string(_edit_atom_lines(CRN_TEXT, insert))
  assert prot.insertion_codes[19] == 'A' and prot.residue_index[19] == 19
  assert prot.residue_index[18] == 19 and prot.insertion_codes[18] == ''
  for writer, reader in ((protein.to_pdb, protein.from_pdb_string),
                         (protein.to_mmcif, protein.from_mmcif_string)):
    back = reader(writer(prot))
    np.testing.assert_array_equal(back.insertion_codes, prot.insertion_codes)
    np.testing.assert_array_equal(back.residue_index, prot.residue_index)


def test_author_numbering_kept_from_mmcif():
  prot = protein.from_file(DATA_DIR / 'structures/extra/102M.cif')
  assert prot.residue_index[0] == 0 and prot.residue_index[-1] == 153
  assert np.all(np.diff(prot.residue_index) == 1)


def test_protein_validates_shapes_and_is_immutable():
  rng = np.random.default_rng(5)
  n = 7
  kwargs = dict(aatype=rng.integers(0, 21, n), atom_positions=rng.normal(size=(n, 37, 3)),
                atom_mask=np.ones((n, 37)), residue_index=np.arange(n) + 3, chain_id='C')
  prot = protein.Protein(**kwargs)
  assert prot.b_factors.shape == (n, 37) and prot.atom_positions.dtype == np.float32
  with pytest.raises(dataclasses.FrozenInstanceError):
    prot.chain_id = 'D'
  with pytest.raises(ValueError):
    prot.atom_positions[0, 0, 0] = 1.0
  with pytest.raises(ValueError, match='atom_positions'):
    protein.Protein(**{**kwargs, 'atom_positions': np.zeros((n, 14, 3))})
  with pytest.raises(ValueError, match='residue_index'):
    protein.Protein(**{**kwargs, 'residue_index': np.arange(n + 1)})
  with pytest.raises(ValueError, match='0..20'):
    protein.Protein(**{**kwargs, 'aatype': np.full(n, 21)})
  with pytest.raises(ValueError, match='one-character chain'):
    protein.to_pdb(prot.replace(chain_id='AB'))
  assert protein.from_mmcif_string(protein.to_mmcif(prot.replace(chain_id='AB'))).chain_id == 'AB'


@pytest.mark.parametrize('ser_occupancy', [0.35, 0.65])
def test_point_mutation_picks_highest_occupancy_residue(ser_occupancy):
  """Residue 5 modelled as PRO (altloc A) and SER (altloc B): the more occupied one wins."""
  lines = CRN_TEXT.splitlines()
  pro = [l for l in lines if l.startswith('ATOM') and _resnum(l) == 5]
  ser = [l for l in lines if l.startswith('ATOM') and _resnum(l) == 6]
  shifted = lambda l: l[:30] + f'{float(l[30:38]) + 0.5:8.3f}' + l[38:]
  variant_a = [l[:16] + 'A' + l[17:54] + f'{1 - ser_occupancy:6.2f}' + l[60:] for l in pro]
  variant_b = [s[:16] + 'B' + s[17:22] + '   5' + s[26:54] + f'{ser_occupancy:6.2f}' + s[60:]
               for s in map(shifted, ser)]
  start = lines.index(pro[0])
  edited = lines[:start] + variant_a + variant_b + lines[start + len(pro):]
  prot = protein.from_pdb_string('\n'.join(edited) + '\n')
  assert prot.num_residues == 46
  winner = 'S' if ser_occupancy > 0.5 else 'P'
  assert prot.sequence[4] == winner
  ca = atoms.atom_order['CA']
  source = CRN.atom_positions[5 if winner == 'S' else 4, ca] + (
      [0.5, 0, 0] if winner == 'S' else 0)
  np.testing.assert_allclose(prot.atom_positions[4, ca], source, atol=1e-3)
