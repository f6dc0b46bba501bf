"""Writes one protein chain as a minimal PDB-style mmCIF that template parsers accept.

Used to turn PDB files into template mmCIFs (tests, benchmarks, a local template folder). The
file carries exactly what AF2's template parser reads: `_entry.id`, `_exptl.method`,
`_refine.ls_d_res_high`, `_pdbx_audit_revision_history.revision_date`, `_entity_poly_seq`
(SEQRES), `_chem_comp` (types), `_struct_asym` and the `_atom_site` loop.

    text = chain_to_mmcif(arrays, pdb_id='1abc', release_date='1999-01-01')

`arrays` are `alphafold_jax.common.structure_io.parse_chain` output (aatype [N], atom_positions
[N, 37, 3], atom_mask [N, 37], residue_index [N]). Options write the cases a template pipeline
must handle: SEQRES with unresolved residues before/after the coordinates (`seqres_prefix`,
`seqres_suffix`), renamed residues (`rename`, e.g. {3: 'MSE'} writes residue 3 as MSE with SE),
and an author chain id different from the label chain id.
"""

from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from alphafold_jax.common import atoms, residues


def _quote(value: str) -> str:
  return f"'{value}'" if (' ' in value or not value) else value


def chain_to_mmcif(arrays: Mapping[str, np.ndarray], pdb_id: str, release_date: str,
                   author_chain: str = 'A', label_chain: str = 'A',
                   seqres_prefix: Sequence[str] = (), seqres_suffix: Sequence[str] = (),
                   rename: Optional[Dict[int, str]] = None, method: str = 'X-RAY DIFFRACTION',
                   resolution: float = 2.0, extra_revision_dates: Sequence[str] = ()) -> str:
  """mmCIF text of one chain (see module docstring)."""
  rename = rename or {}
  aatype = np.asarray(arrays['aatype'])  # [N]
  positions = np.asarray(arrays['atom_positions'])  # [N, 37, 3]
  mask = np.asarray(arrays['atom_mask'])  # [N, 37]
  resnum = np.asarray(arrays['residue_index'])  # [N]
  names = [rename.get(i, residues.resnames[a]) for i, a in enumerate(aatype)]
  seqres = list(seqres_prefix) + names + list(seqres_suffix)
  lines = [f'data_{pdb_id.upper()}', '#', f'_entry.id {pdb_id.upper()}', '#',
           f"_exptl.entry_id {pdb_id.upper()}", f"_exptl.method '{method}'", '#',
           f'_refine.ls_d_res_high {resolution:.2f}', '#',
           'loop_', '_pdbx_audit_revision_history.ordinal',
           '_pdbx_audit_revision_history.revision_date']
  for i, date in enumerate([release_date, *extra_revision_dates], start=1):
    lines.append(f'{i} {date}')
  lines += ['#', 'loop_', '_entity_poly_seq.entity_id', '_entity_poly_seq.num',
            '_entity_poly_seq.mon_id', '_entity_poly_seq.hetero']
  lines += [f'1 {i} {name} n' for i, name in enumerate(seqres, start=1)]
  lines += ['#', 'loop_', '_chem_comp.id', '_chem_comp.type']
  lines += [f"{name} 'L-peptide linking'" for name in sorted(set(seqres))]
  lines += ['#', 'loop_', '_struct_asym.id', '_struct_asym.entity_id', f'{label_chain} 1', '#',
            'loop_'] + [f'_atom_site.{c}' for c in (
                'group_PDB', 'id', 'type_symbol', 'label_atom_id', 'label_alt_id',
                'label_comp_id', 'label_asym_id', 'label_entity_id', 'label_seq_id',
                'pdbx_PDB_ins_code', 'Cartn_x', 'Cartn_y', 'Cartn_z', 'occupancy',
                'B_iso_or_equiv', 'auth_seq_id', 'auth_comp_id', 'auth_asym_id',
                'auth_atom_id', 'pdbx_PDB_model_num')]
  serial = 0
  for i, name in enumerate(names):
    seq_id = len(seqres_prefix) + i + 1
    group = 'HETATM' if name not in residues.restype_3to1 else 'ATOM'
    for slot in np.flatnonzero(mask[i]):
      atom = atoms.atom_types[slot]
      if name == 'MSE' and atom == 'SD':
        atom = 'SE'
      element = 'SE' if atom == 'SE' else atom[0]
      x, y, z = positions[i, slot]
      serial += 1
      lines.append(f'{group} {serial} {element} {atom} . {name} {label_chain} 1 {seq_id} ? '
                   f'{x:.3f} {y:.3f} {z:.3f} 1.00 20.00 {int(resnum[i])} {name} '
                   f'{author_chain} {atom} 1')
  lines.append('#')
  return '\n'.join(lines) + '\n'
