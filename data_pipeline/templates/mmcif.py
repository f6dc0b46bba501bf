"""mmCIF parsing for templates: header, SEQRES chains and the SEQRES -> resolved-residue map.

AF2 v2.3 semantics (`alphafold.data.mmcif_parsing`), written from its documented behaviour:

  * header: `release_date` = the oldest `_pdbx_audit_revision_history.revision_date`
    (None when absent), `resolution` = the last of `_refine.ls_d_res_high`,
    `_em_3d_reconstruction.resolution`, `_reflns.d_resolution_high` that parses as a number
    (0.0 when none does), `structure_method` = lower-cased `_exptl.method`s joined by ','.
  * chains: polymer entities of `_entity_poly_seq` with at least one monomer whose
    `_chem_comp.type` contains 'peptide'; every `_struct_asym` (label) chain of such an entity is
    a protein chain. Results are keyed by the AUTHOR chain id (`_atom_site.auth_asym_id`).
  * `chain_to_seqres[author_chain]`: one letter per `_entity_poly_seq` row (SEQRES, including
    unresolved residues); modified residues map to their parent letter (MSE -> M, ...), anything
    else to 'X'.
  * `seqres_to_structure[author_chain][i]`: the resolved residue (author number, insertion code,
    Biopython hetflag) at SEQRES index i (= label_seq_id - first num), or a missing marker.
  * `structure`: Biopython's first model (atoms come from it, as in AF2).

DISCREPANCY: the alphafold-colabfold oracle maps SEQRES names with Biopython's
`PDBData.protein_letters_3to1` (20 standard residues only), so MSE becomes 'X'; DeepMind's AF2
v2.3 uses `SCOPData.protein_letters_3to1`, which maps modified residues to their parent (MSE ->
M). We follow DeepMind (`protein_letters_3to1_extended`).

Errors: `TemplateError` (a PipelineError) with one line naming the file and the problem.
"""

import dataclasses
import datetime
import io
from typing import Dict, List, Mapping, Optional, Tuple

from Bio.Data.PDBData import protein_letters_3to1_extended
from Bio.PDB import MMCIFParser

from data_pipeline.errors import TemplateError


@dataclasses.dataclass(frozen=True)
class ResidueAtPosition:
  """What sits at one SEQRES position of a chain."""
  residue_number: Optional[int]  # author residue number; None when unresolved
  insertion_code: str  # ' ' when none
  name: str  # three-letter residue name
  is_missing: bool  # True when no atom of this SEQRES residue is in _atom_site
  hetflag: str  # Biopython hetfield: ' ', 'W' or 'H_<name>'

  @property
  def biopython_id(self) -> Tuple[str, int, str]:
    return (self.hetflag, self.residue_number, self.insertion_code)


@dataclasses.dataclass(frozen=True)
class TemplateMmcif:
  """A parsed template mmCIF file (see module docstring)."""
  file_id: str
  release_date: Optional[datetime.date]
  resolution: float
  structure_method: str
  chain_to_seqres: Mapping[str, str]
  seqres_to_structure: Mapping[str, Mapping[int, ResidueAtPosition]]
  structure: object  # Bio.PDB.Model.Model (first model)


def _as_list(table: dict, key: str) -> List[str]:
  value = table.get(key, [])
  return value if isinstance(value, list) else [value]


def _loop(table: dict, prefix: str) -> List[Dict[str, str]]:
  """Rows of an mmCIF loop (or single-row category) as dicts keyed by full item name."""
  keys = [k for k in table if k.startswith(prefix)]
  columns = [_as_list(table, k) for k in keys]
  return [dict(zip(keys, row)) for row in zip(*columns)]


def _is_set(value: str) -> bool:
  return value not in ('.', '?')


def _header(table: dict) -> Tuple[Optional[datetime.date], float, str]:
  dates = _as_list(table, '_pdbx_audit_revision_history.revision_date')
  release = None
  if dates:
    oldest = min(dates)
    try:
      release = datetime.date.fromisoformat(oldest.strip())
    except ValueError:
      release = None
  resolution = 0.0
  for key in ('_refine.ls_d_res_high', '_em_3d_reconstruction.resolution',
              '_reflns.d_resolution_high'):
    values = _as_list(table, key)
    if values:
      try:
        resolution = float(values[0])
      except ValueError:
        pass
  method = ','.join(m.lower() for m in _as_list(table, '_exptl.method'))
  return release, resolution, method


def _protein_label_chains(table: dict, source: str) -> Dict[str, List[Tuple[str, int]]]:
  """label chain id -> [(mon_id, num)] of the SEQRES of every protein chain."""
  polymers: Dict[str, List[Tuple[str, int]]] = {}
  try:
    for row in _loop(table, '_entity_poly_seq.'):
      polymers.setdefault(row['_entity_poly_seq.entity_id'], []).append(
          (row['_entity_poly_seq.mon_id'], int(row['_entity_poly_seq.num'])))
  except (KeyError, ValueError) as e:
    raise TemplateError(f'{source}: malformed _entity_poly_seq loop ({e})') from None
  chem_type = {row.get('_chem_comp.id'): row.get('_chem_comp.type', '').lower()
               for row in _loop(table, '_chem_comp.')}
  entity_chains: Dict[str, List[str]] = {}
  for row in _loop(table, '_struct_asym.'):
    entity_chains.setdefault(row.get('_struct_asym.entity_id'), []).append(
        row.get('_struct_asym.id'))
  chains = {}
  for entity, monomers in polymers.items():
    if any('peptide' in chem_type.get(mon, '') for mon, _ in monomers):
      for chain in entity_chains.get(entity, []):
        chains[chain] = monomers
  return chains


def _one_letter(name: str) -> str:
  code = protein_letters_3to1_extended.get(name.upper(), 'X')
  return code if len(code) == 1 else 'X'


_ATOM_COLUMNS = ('label_comp_id', 'auth_asym_id', 'label_asym_id', 'auth_seq_id', 'label_seq_id',
                 'pdbx_PDB_ins_code', 'group_PDB', 'pdbx_PDB_model_num')


def parse_template_mmcif(text: str, file_id: str, source: str = '<string>') -> TemplateMmcif:
  """Parses an mmCIF string into a TemplateMmcif; raises TemplateError naming `source`."""
  if not text.strip():
    raise TemplateError(f'{source}: empty mmCIF file')
  if not text.lstrip().startswith('data_'):
    raise TemplateError(f"{source}: not an mmCIF file (no leading 'data_' block)")
  parser = MMCIFParser(QUIET=True)
  try:
    structure = parser.get_structure('', io.StringIO(text))
    first_model = next(structure.get_models())
  except StopIteration:
    raise TemplateError(f'{source}: no model / no atoms in the mmCIF file') from None
  except Exception as e:  # Biopython raises many exception types on malformed input.
    detail = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
    raise TemplateError(f'{source}: malformed mmCIF file ({detail})') from None
  table = parser._mmcif_dict  # pylint: disable=protected-access
  release, resolution, method = _header(table)
  label_chains = _protein_label_chains(table, source)
  if not label_chains:
    raise TemplateError(f'{source}: no protein chain (no peptide entity in _entity_poly_seq)')
  columns = [_as_list(table, f'_atom_site.{c}') for c in _ATOM_COLUMNS]
  if not columns[0] or len({len(c) for c in columns}) != 1:
    raise TemplateError(f'{source}: _atom_site loop lacks one of {", ".join(_ATOM_COLUMNS)} '
                        'or is truncated')
  first_num = {chain: min(num for _, num in seq) for chain, seq in label_chains.items()}
  label_to_author: Dict[str, str] = {}
  mapping: Dict[str, Dict[int, ResidueAtPosition]] = {}
  model_ids = columns[7]
  first_model_id = model_ids[0]
  for comp, auth_chain, label_chain, auth_seq, label_seq, icode, group, model in zip(*columns):
    if model != first_model_id:
      continue
    label_to_author[label_chain] = auth_chain
    if label_chain not in label_chains:
      continue
    hetflag = ' '
    if group == 'HETATM':
      hetflag = 'W' if comp in ('HOH', 'WAT') else 'H_' + comp
    try:
      index = int(label_seq) - first_num[label_chain]
      number = int(auth_seq)
    except ValueError:
      raise TemplateError(f'{source}: residue {comp} of chain {auth_chain} has no numeric '
                          f'label_seq_id/auth_seq_id ({label_seq!r}, {auth_seq!r})') from None
    mapping.setdefault(auth_chain, {})[index] = ResidueAtPosition(
        residue_number=number, insertion_code=icode if _is_set(icode) else ' ', name=comp,
        is_missing=False, hetflag=hetflag)
  chain_to_seqres: Dict[str, str] = {}
  for label_chain, monomers in label_chains.items():
    if label_chain not in label_to_author:
      continue  # a protein entity without coordinates in the first model
    author = label_to_author[label_chain]
    current = mapping.setdefault(author, {})
    for index, (mon, _) in enumerate(monomers):
      if index not in current:
        current[index] = ResidueAtPosition(None, ' ', mon, True, ' ')
    chain_to_seqres[author] = ''.join(_one_letter(mon) for mon, _ in monomers)
  if not chain_to_seqres:
    raise TemplateError(f'{source}: no protein chain has atoms in the first model')
  return TemplateMmcif(file_id=file_id, release_date=release, resolution=resolution,
                       structure_method=method, chain_to_seqres=chain_to_seqres,
                       seqres_to_structure=mapping, structure=first_model)


def read_template_mmcif(path: str, file_id: str) -> TemplateMmcif:
  """Reads and parses `path`; a missing or unreadable file raises TemplateError naming it."""
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      text = f.read()
  except FileNotFoundError:
    raise TemplateError(f'{path}: mmCIF file not found') from None
  except OSError as e:
    raise TemplateError(f'{path}: cannot read mmCIF file ({e.strerror or e})') from None
  return parse_template_mmcif(text, file_id, source=path)
