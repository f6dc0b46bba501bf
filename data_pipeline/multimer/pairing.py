"""MSA pairing across the chains of a heteromer by UniProt species (AF2-Multimer v2.3).

Evans et al. 2021 (AlphaFold-Multimer), Methods "MSA pairing": rows of each chain's pairing MSA
(`*_all_seq` features, from a UniProt search whose descriptions carry species mnemonics such as
`tr|A0A146SKV9|A0A146SKV9_FUNHE`) are grouped by species; within a species the rows of every chain
are sorted by identity to that chain's query and zipped, most similar first. A species present in
only one chain is dropped, and so is a species with more than 600 rows in some chain. A chain
missing a species that others share contributes its all-gap padding row.

Row order of the paired MSA (semantics of AF2's `msa_pairing.reorder_paired_rows`): the query row
first, then pairings that involve all chains, then fewer chains; within a group, by the absolute
product of the paired row indices (a proxy for the search e-values, rows being e-value ordered).

Shapes: C = chains, P = paired rows, N_c = rows of chain c's pairing MSA, L_c = its residues.
Feature names follow AF2: msa_all_seq [N_c, L_c] (HHblits ids), deletion_matrix_all_seq,
msa_species_identifiers_all_seq [N_c] (bytes).
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

FeatureDict = Dict[str, np.ndarray]

GAP_ID = 21  # '-' in the HHblits alphabet (rc.HHBLITS_AA_TO_ID) and in restypes_with_x_and_gap
MAX_ROWS_PER_SPECIES = 600

# Value of the padding row appended to each per-chain MSA feature (paired on missing species)
# and used off the block diagonal when unpaired MSAs are merged.
MSA_PAD_VALUES = {'msa': GAP_ID, 'msa_mask': 1, 'deletion_matrix': 0, 'deletion_matrix_int': 0}
MSA_FEATURES = ('msa', 'msa_mask', 'deletion_matrix', 'deletion_matrix_int')


def _descending_order(values: np.ndarray) -> np.ndarray:
  """Indices sorting `values` high to low.

  DISCREPANCY (none in results, one in means): AF2 sorts a pandas DataFrame column descending;
  pandas reverses the column, argsorts it with NumPy's default (unstable) quicksort and reverses
  the result. Ties among equally similar rows are therefore broken exactly like this, which
  we reproduce with NumPy alone (data_pipeline has no pandas dependency).
  """
  n = len(values)
  reversed_index = np.arange(n)[::-1]
  order = reversed_index[np.argsort(values[::-1], kind='quicksort')]
  return order[::-1]


def _species_rows(chain: FeatureDict) -> Dict[bytes, np.ndarray]:
  """{species: row indices of that species, ascending} for one chain (b'' = no species)."""
  species = np.asarray(chain['msa_species_identifiers_all_seq'], dtype=object)  # [N_c]
  groups: Dict[bytes, List[int]] = {}
  for row, s in enumerate(species):
    groups.setdefault(s, []).append(row)
  return {s: np.asarray(rows, dtype=np.int64) for s, rows in groups.items()}


def _similarity_to_query(msa: np.ndarray) -> np.ndarray:
  """Fraction of columns identical to row 0 (the query): [N_c] float64."""
  return np.sum(msa[0][None] == msa, axis=-1) / float(msa.shape[1])


def pair_rows(chains: Sequence[FeatureDict]) -> np.ndarray:
  """Paired row indices [P, C] into each chain's pairing MSA (-1 = that chain's padding row).

  Row 0 is the query of every chain. See the module docstring for the rules and order.
  """
  num_chains = len(chains)
  per_chain = [_species_rows(c) for c in chains]
  similarity = [_similarity_to_query(np.asarray(c['msa_all_seq'])) for c in chains]
  by_count: Dict[int, List[np.ndarray]] = {k: [] for k in range(num_chains + 1)}
  by_count[num_chains].append(np.zeros(num_chains, np.int64))  # the queries
  all_species = sorted(set().union(*[set(d) for d in per_chain]) - {b''})
  for species in all_species:
    present = [d.get(species) for d in per_chain]  # [C] row arrays or None
    sizes = [len(r) for r in present if r is not None]
    if len(sizes) <= 1 or max(sizes) > MAX_ROWS_PER_SPECIES:
      continue
    take = min(sizes)
    columns = []
    for rows, sim in zip(present, similarity):
      if rows is None:
        columns.append(np.full(take, -1, np.int64))
      else:  # most similar to the query first
        columns.append(rows[_descending_order(sim[rows])][:take])
    by_count[len(sizes)].extend(np.stack(columns, axis=1))  # take rows of [C]
  ordered = []
  for count in sorted(by_count, reverse=True):
    rows = np.asarray(by_count[count], dtype=np.int64).reshape(-1, num_chains)  # [P_k, C]
    product = np.abs(np.prod(rows, axis=1))
    ordered.extend(rows[np.argsort(product)])
  return np.asarray(ordered, dtype=np.int64).reshape(-1, num_chains)  # [P, C]


def _with_padding_row(feature: np.ndarray, name: str) -> np.ndarray:
  """The feature with one padding row appended (index -1 selects it)."""
  base = name[:-len('_all_seq')]
  if base in MSA_PAD_VALUES:
    pad = np.full((1,) + feature.shape[1:], MSA_PAD_VALUES[base], feature.dtype)
  elif base == 'msa_species_identifiers':
    pad = np.array([b''], dtype=object)
  else:
    return feature
  return np.concatenate([feature, pad], axis=0)


def create_paired_features(chains: Sequence[FeatureDict]) -> List[FeatureDict]:
  """Each chain with its `*_all_seq` features replaced by its column of the paired MSA.

  Adds num_alignments_all_seq (= P). One chain: returned unchanged.
  """
  chains = [dict(c) for c in chains]
  if len(chains) < 2:
    return chains
  rows = pair_rows(chains)  # [P, C]
  for c, chain in enumerate(chains):
    for name in list(chain):
      if name.endswith('_all_seq'):
        chain[name] = _with_padding_row(np.asarray(chain[name]), name)[rows[:, c]]
    chain['num_alignments_all_seq'] = np.asarray(rows.shape[0])
  return chains


def deduplicate_unpaired_sequences(chains: Sequence[FeatureDict]) -> List[FeatureDict]:
  """Drops unpaired MSA rows that equal (as aligned id rows) a row of the chain's paired MSA."""
  out = []
  for chain in chains:
    chain = dict(chain)
    paired = {row.tobytes() for row in np.asarray(chain['msa_all_seq'])}
    msa = np.asarray(chain['msa'])
    keep = [i for i, row in enumerate(msa) if row.astype(chain['msa_all_seq'].dtype).tobytes()
            not in paired]
    for name in MSA_FEATURES:
      if name in chain:
        chain[name] = chain[name][keep]
    chain['num_alignments'] = np.array(chain['msa'].shape[0], dtype=np.int32)
    out.append(chain)
  return out
