"""AF2-Multimer v2.3 input pipeline (NumPy only): per-chain features, MSA pairing by species,
merging into one complex example.

  chains = [ChainInput('MKV...', 'A', msas=[...], pairing_msas=[...]), ChainInput(...)]
  example = make_multimer_features(chains)      # AF2-Multimer processed-input keys

Identical sequences form one entity (homomer copies share features, as AF2). Pairing MSAs are
only used when the complex has two or more distinct sequences; any MSA whose row descriptions
carry UniProt ids (`tr|ACC|NAME_SPECIES ...`, A3M or Stockholm) can serve as one.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from data_pipeline.errors import FeatureError, MsaError, PipelineError
from data_pipeline.multimer.features import (add_assembly_features, check_chain,
                                             convert_chain_features,
                                             pairing_msa_features, process_unmerged_features)
from data_pipeline.multimer.merging import (MAX_TEMPLATES, MSA_CROP_SIZE, pad_msa,
                                            pair_and_merge)
from data_pipeline.parsers import Msa
from data_pipeline.raw_features import make_raw_features

PDB_CHAIN_IDS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
MAX_CHAINS = len(PDB_CHAIN_IDS)  # 62, AF2's protein.PDB_MAX_CHAINS


@dataclasses.dataclass(frozen=True)
class ChainInput:
  """One chain of a complex: its sequence, MSAs (row 0 = the sequence), pairing MSAs,
  optional monomer-style template features (template_aatype [T, L, 22] HHblits one-hot, ...)."""
  sequence: str
  description: str = ''
  msas: Sequence[Msa] = ()
  pairing_msas: Sequence[Msa] = ()
  templates: Optional[Mapping[str, np.ndarray]] = None


class ComplexError(PipelineError):
  """A complex cannot be built from its chains."""


def chain_raw_features(chain: ChainInput, chain_id: str, with_pairing: bool) -> dict:
  """Monomer raw features (+ `_all_seq` pairing features) of one chain, errors naming it."""
  if not chain.sequence:
    raise ComplexError(f'chain {chain_id} is empty')
  try:
    raw = make_raw_features(chain.sequence, chain.description or chain_id, list(chain.msas))
    if with_pairing:
      msas = list(chain.pairing_msas) or [Msa([chain.sequence], [[0] * len(chain.sequence)],
                                              [chain.description or chain_id])]
      for i, msa in enumerate(msas):
        if msa.sequences and msa.sequences[0] != chain.sequence:
          raise MsaError(f'pairing MSA {i} query row does not match the sequence')
      raw.update(pairing_msa_features(msas))
  except PipelineError as e:
    raise ComplexError(f'chain {chain_id}: {e}') from None
  # No templates: zero template features, as AF2's pipeline gives when its search finds none
  # (the merged example always has max_templates slots).
  raw.update(chain.templates if chain.templates else empty_templates(len(chain.sequence)))
  return raw


def empty_templates(num_res: int) -> Dict[str, np.ndarray]:
  """Monomer-style template features with zero templates (template_aatype [0, L, 22], ...)."""
  return {'template_aatype': np.zeros((0, num_res, 22), np.float32),
          'template_all_atom_positions': np.zeros((0, num_res, 37, 3), np.float32),
          'template_all_atom_masks': np.zeros((0, num_res, 37), np.float32)}


def assemble(raw_chains: Mapping[str, Mapping[str, np.ndarray]],
             msa_crop_size: int = MSA_CROP_SIZE, max_templates: int = MAX_TEMPLATES,
             min_msa_rows: int = 512) -> Dict[str, np.ndarray]:
  """{chain id: monomer raw features (+ `_all_seq`)} -> the merged complex example.

  The same input AF2's `pipeline_multimer.DataPipeline.process` gives `convert_monomer_features`
  after its searches, so features of either pipeline can be compared here.
  """
  converted = {}
  for chain_id, raw in raw_chains.items():
    check_chain(raw, chain_id)
    converted[chain_id] = convert_chain_features(raw, chain_id)
  chains = add_assembly_features(converted)
  process_unmerged_features(chains)
  example = pair_and_merge(chains, msa_crop_size=msa_crop_size, max_templates=max_templates)
  return pad_msa(example, min_msa_rows)


def make_multimer_features(chains: Sequence[ChainInput], **kwargs) -> Dict[str, np.ndarray]:
  """Chains of one complex -> AF2-Multimer features (see `assemble` for the options)."""
  if not chains:
    raise ComplexError('a complex needs at least one chain')
  if len(chains) > MAX_CHAINS:
    raise ComplexError(f'{len(chains)} chains; at most {MAX_CHAINS} are supported')
  with_pairing = len({c.sequence for c in chains}) > 1
  raw_chains, by_sequence = {}, {}
  for i, chain in enumerate(chains):
    chain_id = PDB_CHAIN_IDS[i]
    if chain.sequence and chain.sequence in by_sequence:  # copies share features, as AF2
      raw_chains[chain_id] = copy.deepcopy(by_sequence[chain.sequence])
      continue
    raw = chain_raw_features(chain, chain_id, with_pairing)
    raw_chains[chain_id] = raw
    by_sequence[chain.sequence] = raw
  return assemble(raw_chains, **kwargs)


__all__ = ['ChainInput', 'ComplexError', 'FeatureError', 'assemble', 'make_multimer_features']
