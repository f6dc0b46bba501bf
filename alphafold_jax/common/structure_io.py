"""Reading protein chains from PDB and mmCIF files into atom37 arrays (Biopython parsers).

Rules (the `Protein` contract, see protein.py):
  * first model only (NMR ensembles give model 1);
  * one chain: the requested one, else the first chain holding a protein residue;
  * protein residue = standard amino acid, a known modified amino acid (mapped to its parent:
    MSE -> MET with SE -> SD, SEP -> SER, ...), or any other non-water, non-nucleotide
    residue written as ATOM (-> UNK, aatype 20). Waters and HETATM ligands are skipped;
  * highest-occupancy alternate location per atom (ties: the first listed); for residue-level
    point mutations, the residue whose atoms have the highest summed occupancy;
  * hydrogens / deuteriums skipped; atoms not belonging to the residue type are dropped
    (UNK keeps every atom that has an atom37 slot);
  * author residue numbering and insertion codes kept; residues lacking atoms (even backbone
    ones) are kept with mask 0 at the missing atoms;
  * numbers are checked: every kept atom's coordinates must be finite and within
    +-MAX_ABS_COORDINATE angstrom (coordinates are float32: beyond 1e5 A they lose the 0.01 A
    precision scores need, so a model translated by 1e9 A is refused rather than scored wrong);
    in PDB text the coordinate columns 31-54 must hold three separate numbers (values below
    -999.999 run into the neighbouring column and would be misread).

Every failure is a `StructureError` (a ValueError) with one line naming file and problem.
This module only produces plain arrays; protein.py wraps them into `Protein`.
"""

import gzip
import io
import os
import pathlib
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
from Bio.PDB import MMCIFParser, PDBParser
from Bio.PDB.Residue import DisorderedResidue

from alphafold_jax.common import atoms
from alphafold_jax.common import residues
from alphafold_jax.common.errors import UserError

MAX_ABS_COORDINATE = 1e5  # angstrom; float32 keeps better than 0.01 A up to here
# PDB's Real(8.3) coordinate columns hold -999.999 .. 9999.999.
PDB_COORDINATE_RANGE = (-999.999, 9999.999)


class StructureError(UserError):
  """A structure file could not be read (one-line, user-facing message)."""


# Common modified residues -> parent standard residue (PDB chem-comp parent).
MODIFIED_RESIDUE_PARENTS: Dict[str, str] = {
    'MSE': 'MET', 'FME': 'MET', 'SEC': 'CYS', 'CSO': 'CYS', 'CSD': 'CYS', 'CME': 'CYS',
    'OCS': 'CYS', 'CSX': 'CYS', 'CSS': 'CYS', 'SMC': 'CYS', 'CAS': 'CYS', 'MLY': 'LYS',
    'M3L': 'LYS', 'MLZ': 'LYS', 'KCX': 'LYS', 'LLP': 'LYS', 'ALY': 'LYS', 'SEP': 'SER',
    'TPO': 'THR', 'PTR': 'TYR', 'TYS': 'TYR', 'HYP': 'PRO', 'PCA': 'GLN', 'HIC': 'HIS',
    'NEP': 'HIS', 'CGU': 'GLU', 'MEN': 'ASN', 'NLE': 'LEU', 'MVA': 'VAL', 'AIB': 'ALA',
    'DAL': 'ALA', 'DAR': 'ARG', 'DAS': 'ASP', 'DCY': 'CYS', 'DGL': 'GLU', 'DGN': 'GLN',
    'DHI': 'HIS', 'DIL': 'ILE', 'DLE': 'LEU', 'DLY': 'LYS', 'DPN': 'PHE', 'DPR': 'PRO',
    'DSN': 'SER', 'DTH': 'THR', 'DTR': 'TRP', 'DTY': 'TYR', 'DVA': 'VAL', 'MED': 'MET',
}
# Atoms renamed when mapping a modified residue onto its parent.
MODIFIED_ATOM_RENAMES: Dict[str, Dict[str, str]] = {'MSE': {'SE': 'SD'}, 'SEC': {'SE': 'SG'}}

_WATERS = frozenset({'HOH', 'WAT', 'H2O', 'DOD', 'SOL', 'TIP', 'TIP3'})
_NUCLEOTIDES = frozenset({'A', 'C', 'G', 'U', 'T', 'I', 'N', 'DA', 'DC', 'DG', 'DT', 'DU',
                          'DI', 'DN', 'ADE', 'CYT', 'GUA', 'URI', 'THY'})
_HYDROGENS = frozenset({'H', 'D'})
_MMCIF_SUFFIXES = ('.cif', '.mmcif')
_FORMAT_NAMES = {'pdb': 'PDB', 'mmcif': 'mmCIF'}
_PDB_SUFFIXES = ('.pdb', '.ent', '.pdb1')

# Parsed chain as plain arrays (keys = Protein fields).
ChainArrays = Dict[str, Union[np.ndarray, str]]


def _fail(source: str, problem: str) -> StructureError:
  return StructureError(f'{source}: {problem}')


def read_structure_text(path: Union[str, os.PathLike]) -> Tuple[str, str]:
  """(text, format) of a structure file; format 'pdb' or 'mmcif'. Handles .gz."""
  path = pathlib.Path(path)
  if not path.exists():
    raise StructureError(f'{path}: structure file not found')
  if not path.is_file():
    raise StructureError(f'{path}: not a regular file')
  try:
    raw = path.read_bytes()
    if path.suffix == '.gz':
      raw = gzip.decompress(raw)
  except (OSError, EOFError) as e:
    raise _fail(str(path), f'cannot read file ({e})') from None
  if b'\x00' in raw:
    raise _fail(str(path), 'binary data, not a PDB or mmCIF text file')
  try:
    text = raw.decode('utf-8')
  except UnicodeDecodeError:
    text = raw.decode('latin-1')
  suffixes = [s.lower() for s in path.suffixes if s.lower() != '.gz']
  suffix = suffixes[-1] if suffixes else ''
  return text, guess_format(text, suffix)


def guess_format(text: str, suffix: str = '') -> str:
  """'mmcif' or 'pdb' from the file extension, else from the content."""
  if suffix in _MMCIF_SUFFIXES:
    return 'mmcif'
  if suffix in _PDB_SUFFIXES:
    return 'pdb'
  head = text.lstrip()[:4096]
  if head.startswith('data_') or '_atom_site.' in text:
    return 'mmcif'
  return 'pdb'


def _check_pdb_complete(text: str, source: str) -> None:
  """Detects PDB files cut off mid-write (Biopython silently keeps the partial part)."""
  lines = [l for l in text.splitlines() if l.strip()]
  if not lines:
    raise _fail(source, 'empty file')
  last = lines[-1]
  record = last[:6].strip()
  if record in ('ATOM', 'HETATM', 'ANISOU'):
    previous = [l for l in lines[-6:-1] if l[:6].strip() == record]
    cut_short = (not text.endswith('\n') and previous
                 and len(last.rstrip()) < min(len(l.rstrip()) for l in previous))
    if len(last.rstrip()) < 54 or cut_short:
      raise _fail(source, f'file is truncated (last record incomplete: {last.strip()[:40]!r})')
  has_header = lines[0].startswith('HEADER')
  has_end = any(l[:6].strip() in ('END', 'MASTER') for l in lines[-3:])
  if has_header and not has_end:
    raise _fail(source, 'file is truncated (deposited PDB entry without its END record)')


def _check_pdb_coordinates(text: str, source: str) -> None:
  """Coordinate columns 31-54 of every ATOM/HETATM line hold three separate numbers.

  A value below -999.999 (or above 9999.999) needs more than 8 characters and runs into the
  next column ("  11.104-1000.000"); fixed-column readers then misread the numbers.
  """
  for line_number, line in enumerate(text.splitlines(), start=1):
    if not line.startswith(('ATOM  ', 'HETATM')) or len(line) < 54:
      continue
    fields = [line[30:38].strip(), line[38:46].strip(), line[46:54].strip()]
    if line[30:54].split() == fields and all(fields):
      try:
        values = [float(f) for f in fields]
      except ValueError:
        values = None
      if values is not None and all(np.isfinite(values)):
        continue
      if values is not None:
        raise _fail(source, f'line {line_number}: non-finite coordinate '
                    f'({line[30:54].strip()!r})')
    raise _fail(source, f'line {line_number}: coordinate columns 31-54 do not hold three '
                f'numbers ({line[30:54].strip()!r}); PDB columns hold -999.999..9999.999, '
                'use mmCIF for coordinates beyond that')


def check_coordinates(positions: np.ndarray, mask: np.ndarray, residue_index, source: str,
                      limit: float = MAX_ABS_COORDINATE) -> None:
  """StructureError unless every present atom (mask > 0) is finite and within +-limit A."""
  positions = np.asarray(positions)  # [L, 37, 3]
  present = np.asarray(mask) > 0  # [L, 37]
  with np.errstate(invalid='ignore'):
    bad = present & ~np.all(np.isfinite(positions) & (np.abs(positions) <= limit), axis=-1)
  if bad.any():
    i, slot = (int(v[0]) for v in np.nonzero(bad))
    value = positions[i, slot]
    problem = ('non-finite coordinates' if not np.all(np.isfinite(value))
               else f'coordinates beyond +-{limit:g} angstrom')
    raise _fail(source, f'{problem} ({", ".join(f"{v:g}" for v in value)}) at residue '
                f'{int(np.asarray(residue_index)[i])} atom {atoms.atom_types[slot]} '
                f'({int(bad.sum())} atom(s) affected)')


def _check_mmcif_complete(table, source: str) -> None:
  """Detects mmCIF files cut off inside the _atom_site loop (ragged columns).

  Biopython's MMCIFParser zips the columns and silently drops a partial last row; its
  parsed dictionary (kept on the parser) shows the ragged lengths.
  """
  if not table:
    return
  lengths = {len(v) for k, v in table.items()
             if k.startswith('_atom_site.') and isinstance(v, list)}
  if len(lengths) > 1:
    raise _fail(source, '_atom_site loop has a row with missing or extra values '
                '(truncated or ragged file)')


def _parse_model(text: str, fmt: str, source: str):
  """First Biopython model of `text`; StructureError on any parser failure."""
  if not text.strip():
    raise _fail(source, 'empty file')
  if fmt == 'pdb':
    _check_pdb_complete(text, source)
    _check_pdb_coordinates(text, source)
    parser = PDBParser(QUIET=True)
  elif fmt == 'mmcif':
    if not text.lstrip().startswith('data_'):
      raise _fail(source, "not an mmCIF file (no leading 'data_' block)")
    parser = MMCIFParser(QUIET=True)
  else:
    raise ValueError(f'unknown structure format {fmt!r}; expected "pdb" or "mmcif"')
  try:
    structure = parser.get_structure('structure', io.StringIO(text))
  except Exception as e:  # Biopython raises many types on malformed input.
    ragged = None
    if fmt == 'mmcif':  # a ragged _atom_site row shows up as e.g. "Invalid model number"
      try:
        _check_mmcif_complete(getattr(parser, '_mmcif_dict', None), source)
      except StructureError as error:
        ragged = error
    if ragged is not None:
      raise ragged from None
    detail = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
    raise _fail(source, f'malformed or truncated {_FORMAT_NAMES[fmt]} file ({detail})') from None
  if fmt == 'mmcif':
    _check_mmcif_complete(getattr(parser, '_mmcif_dict', None), source)
  models = list(structure)
  if not models or not any(True for _ in models[0].get_atoms()):
    raise _fail(source, f'no atoms found; is this a {_FORMAT_NAMES[fmt]} file?')
  return models[0]


def _residue_parent_name(residue) -> Optional[str]:
  """Standard three-letter parent of a protein residue, 'UNK', or None if not protein."""
  hetfield = residue.id[0]
  name = residue.get_resname().strip().upper()
  if hetfield == 'W' or name in _WATERS or name in _NUCLEOTIDES:
    return None
  if name in residues.restype_3to1:
    return name
  if name in MODIFIED_RESIDUE_PARENTS:
    return MODIFIED_RESIDUE_PARENTS[name]
  if hetfield == ' ':  # ATOM record with a non-standard name: unknown amino acid.
    return residues.unk_restype
  return None  # ligand / ion


def _select_residue(residue):
  """For residue-level point mutations, the variant with the highest total occupancy."""
  if not isinstance(residue, DisorderedResidue):
    return residue
  variants = residue.disordered_get_list()
  occupancy = lambda r: sum((a.get_occupancy() or 0.0) for a in r.get_atoms())
  return max(variants, key=occupancy)  # max keeps the first of equals


def _chain_arrays(chain) -> Optional[ChainArrays]:
  """atom37 arrays of the protein residues of a Biopython chain, None if there are none."""
  aatype, residue_index, icodes, positions, mask, bfactors = [], [], [], [], [], []
  for residue in chain:
    residue = _select_residue(residue)
    parent = _residue_parent_name(residue)
    if parent is None:
      continue
    restype = residues.resname_to_idx[parent]
    allowed = (atoms.residue_atoms[parent] + ['OXT'] if parent != residues.unk_restype
               else atoms.atom_types)
    renames = MODIFIED_ATOM_RENAMES.get(residue.get_resname().strip().upper(), {})
    pos = np.zeros((atoms.atom_type_num, 3), np.float32)  # [37, 3]
    msk = np.zeros((atoms.atom_type_num,), np.float32)  # [37]
    bfc = np.zeros((atoms.atom_type_num,), np.float32)  # [37]
    for atom in residue.get_atoms():  # selected altloc of disordered atoms
      element = (atom.element or '').strip().upper()
      name = renames.get(atom.get_name().strip().upper(), atom.get_name().strip().upper())
      if element in _HYDROGENS or name not in allowed or name not in atoms.atom_order:
        continue
      slot = atoms.atom_order[name]
      pos[slot] = atom.get_coord()
      msk[slot] = 1.0
      bfc[slot] = atom.get_bfactor() or 0.0
    aatype.append(restype)
    residue_index.append(residue.id[1])
    icodes.append(residue.id[2].strip())
    positions.append(pos)
    mask.append(msk)
    bfactors.append(bfc)
  if not aatype:
    return None
  return {
      'aatype': np.array(aatype, np.int32),  # [L]
      'atom_positions': np.stack(positions),  # [L, 37, 3]
      'atom_mask': np.stack(mask),  # [L, 37]
      'residue_index': np.array(residue_index, np.int32),  # [L]
      'chain_id': str(chain.id),
      'b_factors': np.stack(bfactors),  # [L, 37]
      'insertion_codes': np.array(icodes, dtype='<U1'),  # [L]
  }


def _checked_chain_arrays(chain, source: str) -> Optional[ChainArrays]:
  """`_chain_arrays` with odd values (e.g. residue numbers beyond int32) as StructureError,
  and the coordinates checked (`check_coordinates`)."""
  try:
    arrays = _chain_arrays(chain)
  except (OverflowError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
    if isinstance(e, StructureError):
      raise
    raise _fail(source, f'chain {chain.id!r} holds values that cannot be read '
                f'({type(e).__name__}: {e})') from None
  if arrays is not None:
    check_coordinates(arrays['atom_positions'], arrays['atom_mask'], arrays['residue_index'],
                      f'{source} chain {chain.id!r}')
  return arrays


def parse_chain(text: str, fmt: str, chain_id: Optional[str] = None,
                source: str = '<string>') -> ChainArrays:
  """Arrays of one protein chain of the first model (see module docstring for the rules)."""
  model = _parse_model(text, fmt, source)
  chains = list(model)
  if chain_id is not None:
    chain_id = str(chain_id)
    matching = [c for c in chains if c.id == chain_id]
    if not matching:
      available = ', '.join(repr(c.id) for c in chains) or 'none'
      raise _fail(source, f'chain {chain_id!r} not found; available chains: {available}')
    arrays = _checked_chain_arrays(matching[0], source)
    if arrays is None:
      protein_chains = [c.id for c in chains if _checked_chain_arrays(c, source) is not None]
      raise _fail(source, f'chain {chain_id!r} has no protein residues; protein chains: '
                  f'{", ".join(repr(c) for c in protein_chains) or "none"}')
    return arrays
  for chain in chains:
    arrays = _checked_chain_arrays(chain, source)
    if arrays is not None:
      return arrays
  raise _fail(source, 'no protein chain found (only waters, ligands or nucleic acids)')


def list_protein_chains(text: str, fmt: str, source: str = '<string>') -> List[str]:
  """IDs of the chains of the first model that hold at least one protein residue."""
  model = _parse_model(text, fmt, source)
  return [c.id for c in model if _checked_chain_arrays(c, source) is not None]
