"""Writing a single protein chain (atom37 arrays) as PDB or mmCIF text with Biopython.

  to_pdb:   builds a Bio.PDB Structure and writes it with PDBIO (ATOM records, TER, END).
  to_mmcif: writes an mmCIF dictionary with MMCIFIO: _entry, _entity, _entity_poly,
            _entity_poly_seq, _struct_asym and a full _atom_site loop (label_* and author
            auth_* numbering, B-factors); readable by MMCIFParser and MMCIF2Dict.

Only atoms with mask > 0.5 are written; B-factors (e.g. pLDDT) come from `b_factors`.
Numbers are checked before anything is written: coordinates and B-factors must be finite, and
for PDB the coordinates must fit the Real(8.3) columns (-999.999..9999.999), else
`StructureError` (columns would run together and be misread).
The writers take any object with the `Protein` fields (aatype, atom_positions, atom_mask,
residue_index, chain_id, b_factors and optionally insertion_codes).
"""

import io
from typing import Dict, List

import numpy as np
from Bio.PDB import PDBIO, MMCIFIO
from Bio.PDB.Atom import Atom
from Bio.PDB.Chain import Chain
from Bio.PDB.Model import Model
from Bio.PDB.Residue import Residue
from Bio.PDB.Structure import Structure

from alphafold_jax.common import atoms
from alphafold_jax.common import residues
from alphafold_jax.common.structure_io import PDB_COORDINATE_RANGE, StructureError


def _check_numbers(protein, pdb: bool) -> None:
  """StructureError unless the written atoms' coordinates/B-factors are finite (and, for PDB,
  inside the coordinate columns' range)."""
  present = np.asarray(protein.atom_mask) > 0.5  # [L, 37]
  positions = np.asarray(protein.atom_positions, np.float64)[present]  # [n, 3]
  bfactors = np.asarray(protein.b_factors, np.float64)[present]  # [n]
  if not (np.all(np.isfinite(positions)) and np.all(np.isfinite(bfactors))):
    raise StructureError(f'cannot write a structure with non-finite coordinates or B-factors '
                         f'({int(np.sum(~np.isfinite(positions)))} non-finite coordinate values)')
  low, high = PDB_COORDINATE_RANGE
  if pdb and positions.size and (positions.min() < low or positions.max() > high):
    raise StructureError(f'coordinates span {positions.min():.1f}..{positions.max():.1f} A, '
                         f'beyond the PDB columns\' {low}..{high}; write mmCIF instead')


def _resname(restype: int) -> str:
  if not 0 <= int(restype) <= residues.unk_restype_index:
    raise ValueError(f'aatype {int(restype)} out of range 0..{residues.unk_restype_index}')
  return residues.resnames[int(restype)]


def _insertion_codes(protein) -> List[str]:
  codes = getattr(protein, 'insertion_codes', None)
  if codes is None:
    return [''] * len(protein.aatype)
  return [str(c).strip() for c in codes]


def _present_atoms(protein, i: int):
  """(atom37 slot, name, element) of the atoms written for residue i, atom37 order."""
  for slot in np.nonzero(np.asarray(protein.atom_mask[i]) > 0.5)[0]:
    name = atoms.atom_types[slot]
    yield int(slot), name, name[0]


def _build_structure(protein) -> Structure:
  chain_id = str(protein.chain_id)
  if len(chain_id) != 1:
    raise ValueError(f'PDB format needs a one-character chain id, got {chain_id!r}; '
                     'write mmCIF instead')
  structure = Structure('protein')
  model = Model(0)
  chain = Chain(chain_id)
  structure.add(model)
  model.add(chain)
  serial = 1
  for i, (restype, resnum, icode) in enumerate(zip(
      np.asarray(protein.aatype), np.asarray(protein.residue_index),
      _insertion_codes(protein))):
    if not np.any(np.asarray(protein.atom_mask[i]) > 0.5):
      continue
    residue = Residue((' ', int(resnum), icode or ' '), _resname(restype), '    ')
    for slot, name, element in _present_atoms(protein, i):
      fullname = name if len(name) == 4 else f' {name:<3}'
      residue.add(Atom(name, np.asarray(protein.atom_positions[i, slot], np.float32),
                       float(protein.b_factors[i, slot]), 1.0, ' ', fullname, serial,
                       element=element))
      serial += 1
    chain.add(residue)
  return structure


def to_pdb(protein) -> str:
  """PDB text of `protein` (one model, one chain, TER and END records)."""
  _check_numbers(protein, pdb=True)
  pdbio = PDBIO()
  pdbio.set_structure(_build_structure(protein))
  out = io.StringIO()
  pdbio.save(out)  # writes ATOM records, TER after the chain and END
  return out.getvalue()


def _mmcif_dict(protein, entry_id: str) -> Dict[str, object]:
  chain_id = str(protein.chain_id) or 'A'
  names = [_resname(r) for r in np.asarray(protein.aatype)]
  one_letter = ''.join(residues.restype_3to1.get(n, 'X') for n in names)
  site: Dict[str, List[str]] = {key: [] for key in (
      'group_PDB', 'id', 'type_symbol', 'label_atom_id', 'label_alt_id', 'label_comp_id',
      'label_asym_id', 'label_entity_id', 'label_seq_id', 'pdbx_PDB_ins_code', 'Cartn_x',
      'Cartn_y', 'Cartn_z', 'occupancy', 'B_iso_or_equiv', 'auth_seq_id', 'auth_comp_id',
      'auth_asym_id', 'auth_atom_id', 'pdbx_PDB_model_num')}
  serial = 1
  for i, (resnum, icode) in enumerate(zip(np.asarray(protein.residue_index),
                                          _insertion_codes(protein))):
    for slot, name, element in _present_atoms(protein, i):
      x, y, z = (float(v) for v in protein.atom_positions[i, slot])
      values = ('ATOM', str(serial), element, name, '.', names[i], chain_id, '1',
                str(i + 1), icode or '?', f'{x:.3f}', f'{y:.3f}', f'{z:.3f}', '1.00',
                f'{float(protein.b_factors[i, slot]):.2f}', str(int(resnum)), names[i],
                chain_id, name, '1')
      for key, value in zip(site, values):
        site[key].append(value)
      serial += 1
  out: Dict[str, object] = {'data_': entry_id, '_entry.id': entry_id}
  out.update({
      '_entity.id': ['1'], '_entity.type': ['polymer'],
      '_entity_poly.entity_id': ['1'], '_entity_poly.type': [residues.PROTEIN_CHAIN],
      '_entity_poly.pdbx_seq_one_letter_code_can': [one_letter],
      '_entity_poly.pdbx_strand_id': [chain_id],
      '_entity_poly_seq.entity_id': ['1'] * len(names),
      '_entity_poly_seq.num': [str(i + 1) for i in range(len(names))],
      '_entity_poly_seq.mon_id': names,
      '_entity_poly_seq.hetero': ['n'] * len(names),
      '_struct_asym.id': [chain_id], '_struct_asym.entity_id': ['1'],
  })
  out.update({f'_atom_site.{key}': values for key, values in site.items()})
  return out


def to_mmcif(protein, entry_id: str = 'protein') -> str:
  """mmCIF text of `protein` (one model, one polymer entity, author numbering kept)."""
  _check_numbers(protein, pdb=False)
  mmcifio = MMCIFIO()
  mmcifio.set_dict(_mmcif_dict(protein, entry_id))
  out = io.StringIO()
  mmcifio.save(out)
  return out.getvalue()
