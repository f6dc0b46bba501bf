"""Amino-acid residue types: the 20 standard residues plus unknown, and sequence encodings.

Pure NumPy (no jax): `data_pipeline` imports this module.

Index conventions (identical to AlphaFold2 v2.3, `alphafold.common.residue_constants`):
  * `restypes`: the 20 standard amino acids ordered alphabetically by THREE-letter code
    (ALA, ARG, ASN, ASP, CYS, GLN, GLU, GLY, HIS, ILE, LEU, LYS, MET, PHE, PRO, SER, THR,
    TRP, TYR, VAL), written as one-letter codes. Index 20 (`unk_restype_index`) is unknown
    ('X' / 'UNK'); index 21 is the alignment gap '-' where an MSA alphabet needs it.
  * HHblits alphabet: one-letter codes sorted alphabetically, X = 20, gap = 21; B->D,
    Z->E, U->C and J/O->X.
"""

from typing import Dict, Final, Mapping, Tuple

import numpy as np

# Distance between consecutive CA atoms in a trans peptide (omega = 180 deg), angstrom.
ca_ca: Final[float] = 3.80209737096

# One-letter code -> three-letter code for the 20 standard residues; the dict order IS the
# aatype order (alphabetical by three-letter code).
_ONE_TO_THREE: Tuple[Tuple[str, str], ...] = (
    ('A', 'ALA'), ('R', 'ARG'), ('N', 'ASN'), ('D', 'ASP'), ('C', 'CYS'),
    ('Q', 'GLN'), ('E', 'GLU'), ('G', 'GLY'), ('H', 'HIS'), ('I', 'ILE'),
    ('L', 'LEU'), ('K', 'LYS'), ('M', 'MET'), ('F', 'PHE'), ('P', 'PRO'),
    ('S', 'SER'), ('T', 'THR'), ('W', 'TRP'), ('Y', 'TYR'), ('V', 'VAL'),
)

restype_1to3: Dict[str, str] = dict(_ONE_TO_THREE)
# A strict 1:1 inverse (unlike Bio.PDB's protein_letters_3to1, which knows many more names).
restype_3to1: Dict[str, str] = {three: one for one, three in _ONE_TO_THREE}

restypes = [one for one, _ in _ONE_TO_THREE]
restype_order: Dict[str, int] = {r: i for i, r in enumerate(restypes)}
restype_num: Final[int] = len(restypes)  # 20
unk_restype_index: Final[int] = restype_num  # 20: catch-all for anything non-standard

restypes_with_x = restypes + ['X']
restype_order_with_x: Dict[str, int] = {r: i for i, r in enumerate(restypes_with_x)}
restypes_with_x_and_gap = restypes + ['X', '-']

unk_restype: Final[str] = 'UNK'
resnames = [restype_1to3[r] for r in restypes] + [unk_restype]
resname_to_idx: Dict[str, int] = {name: i for i, name in enumerate(resnames)}

# mmCIF entity_poly types.
PROTEIN_CHAIN: Final[str] = 'polypeptide(L)'
POLYMER_CHAIN: Final[str] = 'polymer'

# HHblits / A3M alphabet -> HHblits integer id (alphabetical one-letter order, X=20, gap=21).
_HHBLITS_ALPHABET = 'ACDEFGHIKLMNPQRSTVWY'
_HHBLITS_ALIASES = {'B': 'D', 'Z': 'E', 'U': 'C', 'J': 'X', 'O': 'X'}

ID_TO_HHBLITS_AA: Dict[int, str] = {
    **{i: aa for i, aa in enumerate(_HHBLITS_ALPHABET)}, 20: 'X', 21: '-'}
HHBLITS_AA_TO_ID: Dict[str, int] = {aa: i for i, aa in ID_TO_HHBLITS_AA.items()}
HHBLITS_AA_TO_ID.update({alias: HHBLITS_AA_TO_ID[target]
                         for alias, target in _HHBLITS_ALIASES.items()})

# HHblits id -> our aatype id (X -> 20, gap -> 21).
MAP_HHBLITS_AATYPE_TO_OUR_AATYPE: Tuple[int, ...] = tuple(
    restypes_with_x_and_gap.index(ID_TO_HHBLITS_AA[i])
    for i in range(len(restypes_with_x_and_gap)))


def sequence_to_onehot(sequence: str, mapping: Mapping[str, int],
                       map_unknown_to_x: bool = False) -> np.ndarray:
  """One-hot encodes `sequence` with `mapping` (letter -> index in [0, n)).

  Args:
    sequence: amino-acid letters.
    mapping: letter -> class index; its values must be exactly 0..n-1 (no gaps).
    map_unknown_to_x: letters missing from `mapping` map to mapping['X'] (only uppercase
      letters are accepted then); otherwise a missing letter raises.

  Returns:
    int32 array [len(sequence), n].
  """
  n = max(mapping.values()) + 1
  if sorted(set(mapping.values())) != list(range(n)):
    raise ValueError('The mapping must have values from 0 to num_unique_aas-1 without any '
                     f'gaps. Got: {sorted(mapping.values())}')
  indices = np.empty(len(sequence), dtype=np.int64)
  for pos, letter in enumerate(sequence):
    if map_unknown_to_x:
      if not (letter.isalpha() and letter.isupper()):
        raise ValueError(f'Invalid character in the sequence: {letter}')
      indices[pos] = mapping.get(letter, mapping['X'])
    else:
      if letter not in mapping:
        raise KeyError(letter)
      indices[pos] = mapping[letter]
  onehot = np.zeros((len(sequence), n), dtype=np.int32)  # [L, n]
  onehot[np.arange(len(sequence)), indices] = 1
  return onehot


def aatype_from_sequence(sequence: str) -> np.ndarray:
  """Sequence of one-letter codes -> int32 aatype [L]; non-standard letters -> 20 (UNK)."""
  return np.array([restype_order.get(c, unk_restype_index) for c in sequence.upper()],
                  dtype=np.int32)


def sequence_from_aatype(aatype) -> str:
  """int aatype [L] -> one-letter sequence; 20 (and anything out of range) -> 'X'."""
  return ''.join(restypes[int(i)] if 0 <= int(i) < restype_num else 'X'
                 for i in np.asarray(aatype).reshape(-1))
