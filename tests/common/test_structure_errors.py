"""Bad structure inputs give one clear StructureError line, never a deep Biopython traceback."""

import gzip

import pytest

from alphafold_jax.common import protein
from alphafold_jax.common.protein import StructureError
from tests.conftest import DATA_DIR

CRN = DATA_DIR / 'structures/nano/1CRN.pdb'
MYO = DATA_DIR / 'structures/extra/102M.cif'
UBQ = DATA_DIR / 'structures/nano/1UBQ.pdb'


def _error(path, **kwargs) -> str:
  with pytest.raises(StructureError) as info:
    protein.from_file(path, **kwargs)
  err = info.value
  assert isinstance(err, ValueError)
  message = str(err)
  assert '\n' not in message and len(message) < 300, message
  # Raised by us, not re-raised from inside Biopython with a chained traceback.
  assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
  return message


def test_missing_file(tmp_path):
  message = _error(tmp_path / 'nope.pdb')
  assert 'not found' in message and 'nope.pdb' in message


def test_directory_instead_of_file(tmp_path):
  assert 'not a regular file' in _error(tmp_path)


@pytest.mark.parametrize('suffix', ['pdb', 'cif'])
def test_empty_file(tmp_path, suffix):
  path = tmp_path / f'empty.{suffix}'
  path.write_text('\n \n')
  assert 'empty' in _error(path)


@pytest.mark.parametrize('fraction', [0.3, 0.5, 0.77])
def test_truncated_pdb(tmp_path, fraction):
  text = CRN.read_text()
  path = tmp_path / 'cut.pdb'
  path.write_text(text[:int(len(text) * fraction)])
  assert 'truncated' in _error(path)


def test_truncated_pdb_at_line_boundary(tmp_path):
  lines = CRN.read_text().splitlines(keepends=True)
  path = tmp_path / 'cut.pdb'
  path.write_text(''.join(lines[:len(lines) // 2]))
  assert 'truncated' in _error(path)


@pytest.mark.parametrize('fraction', [0.4, 0.6, 0.93])
def test_truncated_mmcif(tmp_path, fraction):
  text = MYO.read_text()
  path = tmp_path / 'cut.cif'
  path.write_text(text[:int(len(text) * fraction)])
  message = _error(path)
  assert 'truncated' in message or 'malformed' in message


@pytest.mark.parametrize('suffix', ['pdb', 'cif', 'txt'])
def test_garbage_text(tmp_path, suffix):
  path = tmp_path / f'garbage.{suffix}'
  path.write_text('this is not a structure\nat all 1 2 3\n')
  message = _error(path)
  assert 'garbage' in message and ('no atoms' in message or 'not an mmCIF' in message)


def test_binary_file(tmp_path):
  path = tmp_path / 'blob.pdb'
  path.write_bytes(gzip.compress(CRN.read_bytes()))  # gzip bytes under a .pdb name
  assert 'binary' in _error(path)


def test_gzipped_file_is_read(tmp_path):
  path = tmp_path / '1crn.pdb.gz'
  path.write_bytes(gzip.compress(CRN.read_bytes()))
  assert protein.from_file(path).num_residues == 46


def test_no_protein_chain(tmp_path):
  waters = [l for l in UBQ.read_text().splitlines() if l.startswith('HETATM')]
  assert waters
  path = tmp_path / 'waters.pdb'
  path.write_text('\n'.join(waters) + '\nEND\n')
  assert 'no protein chain' in _error(path)


@pytest.mark.parametrize('path,chain', [(CRN, 'Z'), (MYO, 'B')])
def test_missing_chain_lists_available(path, chain):
  message = _error(path, chain_id=chain)
  assert f"chain '{chain}' not found" in message and "'A'" in message


def test_chain_without_protein(tmp_path):
  text = UBQ.read_text()
  lines = [l[:21] + 'W' + l[22:] if l.startswith('HETATM') else l for l in text.splitlines()]
  path = tmp_path / 'ubq.pdb'
  path.write_text('\n'.join(lines) + '\n')
  message = _error(path, chain_id='W')
  assert 'no protein residues' in message and "'A'" in message
  assert protein.from_file(path).chain_id == 'A'


def test_string_readers_raise_structure_error():
  with pytest.raises(StructureError, match='empty'):
    protein.from_pdb_string('')
  with pytest.raises(StructureError, match='mmCIF'):
    protein.from_mmcif_string(CRN.read_text())


def test_pdb_string_without_trailing_newline_or_end_is_fine():
  atom_lines = [l for l in (CRN).read_text().splitlines() if l.startswith('ATOM')]
  prot = protein.from_pdb_string('\n'.join(atom_lines))
  assert prot.num_residues == 46
  with pytest.raises(StructureError, match='truncated'):
    protein.from_pdb_string('\n'.join(atom_lines)[:-12])  # B-factor column cut off
