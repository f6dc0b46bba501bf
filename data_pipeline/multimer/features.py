"""Per-chain features of a complex and the chain identities (AF2-Multimer v2.3 input pipeline).

A chain starts as the monomer raw features (`data_pipeline.make_raw_features`: aatype one-hot
[L, 21], MSA, optional template features) plus, for heteromers, the pairing MSA as `*_all_seq`
features (`pairing_msa_features`). `convert_chain_features` turns it into the multimer form
(aatype as int ids, scalar sequence / num_alignments / seq_length, template aatype in our residue
order); `add_assembly_features` numbers the chains:

  entity_id [L] one id per distinct sequence, 1-based, in order of first appearance
  sym_id    [L] copy number within the entity, 1-based
  asym_id   [L] chain number over the complex, 1-based

Keys of the returned mapping are '<entity letter>_<sym_id>' (A_1, A_2 for a homodimer; A_1, B_1
for a heterodimer), as AF2's `pipeline_multimer`.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

import numpy as np

from alphafold_jax.common import residue_constants as rc
from data_pipeline.errors import FeatureError
from data_pipeline.parsers import Msa
from data_pipeline.raw_features import make_msa_features

FeatureDict = Dict[str, np.ndarray]

PAIRING_FEATURES = ('msa', 'deletion_matrix_int', 'msa_species_identifiers')


def pairing_msa_features(msas: Sequence[Msa]) -> FeatureDict:
  """MSA features used for pairing, suffixed `_all_seq` (AF2: a UniProt jackhmmer search).

  Any MSA whose descriptions carry UniProt ids (`tr|ACC|NAME_SPECIES`) can serve.
  """
  feats = make_msa_features(msas)
  return {f'{k}_all_seq': v for k, v in feats.items() if k in PAIRING_FEATURES}


def int_id_to_str_id(num: int) -> str:
  """1 -> 'A', 26 -> 'Z', 27 -> 'AA', 28 -> 'BA' (mmCIF chain-id style, reversed spreadsheet)."""
  if num <= 0:
    raise ValueError(f'Only positive integers allowed, got {num}.')
  num -= 1
  out = []
  while num >= 0:
    out.append(chr(num % 26 + ord('A')))
    num = num // 26 - 1
  return ''.join(out)


def convert_chain_features(raw: Mapping[str, np.ndarray], chain_id: str) -> FeatureDict:
  """Monomer raw features of one chain -> multimer per-chain features (see module docstring)."""
  out: FeatureDict = {'auth_chain_id': np.asarray(chain_id, dtype=object)}
  for name, value in raw.items():
    if name in ('sequence', 'domain_name', 'num_alignments', 'seq_length'):
      value = np.asarray(value[0], dtype=value.dtype)
    elif name == 'aatype':
      value = np.argmax(value, axis=-1).astype(np.int32)  # [L]
    elif name == 'template_aatype':  # [T, L, 22] HHblits one-hot -> [T, L] our ids
      hh = np.argmax(value, axis=-1).astype(np.int32)
      value = np.take(np.asarray(rc.MAP_HHBLITS_AATYPE_TO_OUR_AATYPE), hh, axis=0)
    elif name == 'template_all_atom_masks':
      name = 'template_all_atom_mask'
    out[name] = value
  return out


def add_assembly_features(chains: Mapping[str, FeatureDict]) -> Dict[str, FeatureDict]:
  """Adds entity_id / sym_id / asym_id [L] float64 (AF2 dtypes) and re-keys the chains."""
  entity_of: Dict[str, int] = {}
  groups: Dict[int, List[FeatureDict]] = {}
  for feats in chains.values():
    seq = str(feats['sequence'])
    entity = entity_of.setdefault(seq, len(entity_of) + 1)
    groups.setdefault(entity, []).append(feats)
  out: Dict[str, FeatureDict] = {}
  asym = 1
  for entity, members in groups.items():
    for sym, feats in enumerate(members, start=1):
      length = int(feats['seq_length'])
      feats['asym_id'] = asym * np.ones(length)
      feats['sym_id'] = sym * np.ones(length)
      feats['entity_id'] = entity * np.ones(length)
      out[f'{int_id_to_str_id(entity)}_{sym}'] = feats
      asym += 1
  return out


def process_unmerged_features(chains: Mapping[str, FeatureDict]) -> None:
  """In place, before pairing: float deletion matrices, deletion_mean, atom mask and dummy
  positions from the residue types, assembly_num_chains, entity_mask."""
  for feats in chains.values():
    feats['deletion_matrix'] = np.asarray(feats.pop('deletion_matrix_int'), np.float32)
    if 'deletion_matrix_int_all_seq' in feats:
      feats['deletion_matrix_all_seq'] = np.asarray(feats.pop('deletion_matrix_int_all_seq'),
                                                    np.float32)
    feats['deletion_mean'] = np.mean(feats['deletion_matrix'], axis=0)  # [L]
    mask = np.asarray(rc.STANDARD_ATOM_MASK)[feats['aatype']]  # [L, 37]
    feats['all_atom_mask'] = mask
    feats['all_atom_positions'] = np.zeros(mask.shape + (3,))
    feats['assembly_num_chains'] = np.asarray(len(chains))
  for feats in chains.values():
    feats['entity_mask'] = (feats['entity_id'] != 0).astype(np.int32)


def check_chain(raw: Mapping[str, np.ndarray], chain_id: str) -> None:
  """One-line errors for chain features that cannot be paired or merged."""
  for name in ('aatype', 'msa', 'deletion_matrix_int', 'sequence', 'seq_length'):
    if name not in raw:
      raise FeatureError(f'chain {chain_id}: missing feature {name!r}')
  length = raw['aatype'].shape[0]
  if length == 0:
    raise FeatureError(f'chain {chain_id} is empty')
  for name in ('msa', 'msa_all_seq'):
    if name in raw and raw[name].shape[1] != length:
      raise FeatureError(f'chain {chain_id}: {name} has {raw[name].shape[1]} columns but the '
                         f'chain has {length} residues')
