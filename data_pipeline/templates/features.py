"""Template hits + mmCIF files -> AF2 raw template features (`alphafold.data.templates`).

Output (T = templates kept, L = query length), `TEMPLATE_FEATURES` dtypes:

  template_aatype              [T, L, 22] float32  one-hot, HHblits order (gap = 21)
  template_all_atom_positions  [T, L, 37, 3] float32  angstrom, atom37
  template_all_atom_masks      [T, L, 37] float32
  template_domain_names        [T] object  b'pdbid_chain'
  template_sequence            [T] object  query-aligned template letters, '-' where unaligned
  template_sum_probs           [T, 1] float32  HHsearch Sum_probs (0 for hmmsearch hits)

`TemplateFeaturizer(mmcif_dir, max_template_date, max_hits=20, kind='hmmsearch'|'hhsearch')`
walks the hits (hhsearch: by decreasing sum_probs; hmmsearch: in file order) through the filters
of filters.py, reads `<mmcif_dir>/<pdbid>.cif`, finds the hit in the chain's SEQRES (same chain
exact, any chain exact, any chain with X as wildcard) or realigns it (realign.py), and builds the
features. It stops after `max_hits` usable templates (AF2 run_alphafold: 20; the model then uses
the first 4). hmmsearch mode also drops a template whose `template_sequence` equals an earlier
one's, and, when nothing survives, returns AF2's one all-zero template; hhsearch mode returns
zero templates.

A hit whose mmCIF is missing or broken is skipped with a warning naming the file (AF2 aborts
on a missing file); a hit name that is not PDBID_CHAIN is an input error (TemplateError).
"""

import dataclasses
import glob
import logging
import os
import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from alphafold_jax.common import residue_constants as rc
from data_pipeline.errors import TemplateError
from data_pipeline.templates import filters
from data_pipeline.templates.hits import TemplateHit
from data_pipeline.templates.mmcif import TemplateMmcif, read_template_mmcif
from data_pipeline.templates.realign import Aligner, RealignError, kalign_align, realign_to_mmcif

log = logging.getLogger(__name__)

TEMPLATE_FEATURES = {
    'template_aatype': np.float32,
    'template_all_atom_masks': np.float32,
    'template_all_atom_positions': np.float32,
    'template_domain_names': object,
    'template_sequence': object,
    'template_sum_probs': np.float32,
}
_NUM_AATYPE = len(rc.restypes_with_x_and_gap)  # 22
_MAX_CA_CA = 150.0  # AF2: "essentially infinity"


class SkipHit(Exception):
  """A hit yields no template (the reason is logged / returned as a warning)."""


def empty_template_features(num_res: int, placeholder: bool = False) -> Dict[str, np.ndarray]:
  """Zero templates ([0, ...]), or AF2-hmmsearch's single all-zero placeholder template.

  DISCREPANCY: AF2's HhsearchHitFeaturizer returns 1-D empty arrays (shape [0]) when no hit
  survives; we return correctly shaped zero-template arrays ([0, L, 22], ...), which the
  processed-feature pipeline pads like any template count.
  """
  t = 1 if placeholder else 0
  return {
      'template_aatype': np.zeros((t, num_res, _NUM_AATYPE), np.float32),
      'template_all_atom_masks': np.zeros((t, num_res, rc.atom_type_num), np.float32),
      'template_all_atom_positions': np.zeros((t, num_res, rc.atom_type_num, 3), np.float32),
      'template_domain_names': np.array([b''] * t, dtype=object),
      'template_sequence': np.array([b''] * t, dtype=object),
      # AF2's hmmsearch placeholder has sum_probs of shape [1] (not [1, 1]); kept as is.
      'template_sum_probs': np.zeros((1,) if placeholder else (0, 1), np.float32),
  }


def query_to_hit_mapping(hit: TemplateHit, query_sequence: str) -> Dict[int, int]:
  """query residue index -> index in the ungapped hit sequence (AF2 semantics).

  The hit's query fragment is located in the full query (first occurrence); both index lists
  are shifted so that their smallest non-gap value is 0.
  """
  if not hit.query:
    return {}
  fragment = hit.query.replace('-', '')
  hit_length = len(hit.hit_sequence.replace('-', ''))
  offset = query_sequence.find(fragment)
  ih = [i for i in hit.indices_hit if i > -1]
  iq = [i for i in hit.indices_query if i > -1]
  if not ih or not iq:
    return {}
  min_h, min_q = min(ih), min(iq)
  mapping = {}
  for q, t in zip(hit.indices_query, hit.indices_hit):
    if q == -1 or t == -1:
      continue
    q, t = q - min_q, t - min_h
    if t >= hit_length or q + offset >= len(query_sequence):
      continue
    mapping[q + offset] = t
  return mapping


def find_in_seqres(chain_id: str, sequence: str, mmcif: TemplateMmcif
                   ) -> Optional[Tuple[str, str, int]]:
  """(seqres, chain, offset) of the hit sequence in the mmCIF, or None (AF2's three tries)."""
  seqres = mmcif.chain_to_seqres.get(chain_id)
  if seqres and sequence in seqres:
    return seqres, chain_id, seqres.find(sequence)
  for chain, seqres in mmcif.chain_to_seqres.items():
    if seqres and sequence in seqres:
      return seqres, chain, seqres.find(sequence)
  pattern = re.compile(''.join('.' if a == 'X' else f'(?:{re.escape(a)}|X)' for a in sequence))
  for chain, seqres in mmcif.chain_to_seqres.items():
    match = pattern.search(seqres)
    if match:
      return seqres, chain, match.start()
  return None


def chain_atom_positions(mmcif: TemplateMmcif, chain_id: str) -> Tuple[np.ndarray, np.ndarray]:
  """([S, 37, 3] positions, [S, 37] mask) per SEQRES residue of the chain (zeros if unresolved).

  Atoms by atom37 name; MSE's SE goes to SD; ARG NH1/NH2 swapped when NH1 is farther from CD
  (naming errors in the PDB). Raises SkipHit when the chain is ambiguous or consecutive resolved
  CAs are > 150 A apart.
  """
  seqres_length = len(mmcif.chain_to_seqres[chain_id])
  chains = [c for c in mmcif.structure.get_chains() if c.id == chain_id]
  if len(chains) != 1:
    raise SkipHit(f'expected exactly one chain {chain_id} in {mmcif.file_id}')
  chain = chains[0]
  positions = np.zeros((seqres_length, rc.atom_type_num, 3), np.float32)  # [S, 37, 3]
  masks = np.zeros((seqres_length, rc.atom_type_num), np.float32)  # [S, 37]
  cd, nh1, nh2 = rc.atom_order['CD'], rc.atom_order['NH1'], rc.atom_order['NH2']
  for i in range(seqres_length):
    at = mmcif.seqres_to_structure[chain_id][i]
    if at.is_missing:
      continue
    try:
      residue = chain[at.biopython_id]
    except KeyError as e:
      raise SkipHit(f'residue {at.biopython_id} of {mmcif.file_id}_{chain_id} has no atoms '
                    f'({e})') from None
    pos, mask = positions[i], masks[i]
    for atom in residue.get_atoms():
      name = atom.get_name()
      if name in rc.atom_order:
        pos[rc.atom_order[name]] = atom.get_coord()
        mask[rc.atom_order[name]] = 1.0
      elif name.upper() == 'SE' and residue.get_resname() == 'MSE':
        pos[rc.atom_order['SD']] = atom.get_coord()
        mask[rc.atom_order['SD']] = 1.0
    if (residue.get_resname() == 'ARG' and mask[cd] and mask[nh1] and mask[nh2]
        and np.linalg.norm(pos[nh1] - pos[cd]) > np.linalg.norm(pos[nh2] - pos[cd])):
      pos[[nh1, nh2]] = pos[[nh2, nh1]]
  ca = rc.atom_order['CA']
  resolved = np.flatnonzero(masks[:, ca])
  # AF2 checks only pairs of CONSECUTIVE SEQRES residues that are both resolved.
  pairs = resolved[:-1][np.diff(resolved) == 1]
  if pairs.size:
    gaps = np.linalg.norm(positions[pairs + 1, ca] - positions[pairs, ca], axis=-1)
    if np.any(gaps > _MAX_CA_CA):
      raise SkipHit(f'CA-CA distance {gaps.max():.1f} A > {_MAX_CA_CA} in '
                    f'{mmcif.file_id}_{chain_id}')
  return positions, masks


def hit_features(mmcif: TemplateMmcif, pdb_id: str, mapping: Mapping[int, int],
                 template_sequence: str, query_sequence: str, chain_id: str,
                 aligner: Aligner = kalign_align) -> Tuple[Dict[str, object], Optional[str]]:
  """Features of one hit ([L, ...] arrays, no template axis) and a realignment warning."""
  warning = None
  found = find_in_seqres(chain_id, template_sequence, mmcif)
  if found is None:
    warning = (f'{pdb_id}_{chain_id}: hit sequence not found in the mmCIF SEQRES; realigned '
               'with kalign')
    try:
      seqres, mapping = realign_to_mmcif(template_sequence, chain_id, mmcif, mapping, aligner)
    except RealignError as e:
      raise SkipHit(str(e)) from None
    template_sequence, offset = seqres, 0
  else:
    seqres, chain_id, offset = found
  if chain_id not in mmcif.chain_to_seqres:  # realigned onto the file's only chain
    raise SkipHit(f'chain {chain_id} not in {mmcif.file_id}')
  positions, masks = chain_atom_positions(mmcif, chain_id)
  num_res = len(query_sequence)
  out_positions = np.zeros((num_res, rc.atom_type_num, 3), np.float32)  # [L, 37, 3]
  out_masks = np.zeros((num_res, rc.atom_type_num), np.float32)  # [L, 37]
  letters = ['-'] * num_res
  for q, t in mapping.items():
    # As in AF2, a realigned residue without partner (t = -1) indexes from the END of the chain.
    index = t + offset
    out_positions[q] = positions[index]
    out_masks[q] = masks[index]
    letters[q] = template_sequence[t]
  if out_masks.sum() < 5:
    raise SkipHit(f'{pdb_id}_{chain_id}: no resolved atoms in the aligned residues')
  aligned = ''.join(letters)
  aatype = np.zeros((num_res, _NUM_AATYPE), np.float32)  # [L, 22]
  aatype[np.arange(num_res), [rc.HHBLITS_AA_TO_ID[c] for c in aligned]] = 1
  return {
      'template_all_atom_positions': out_positions,
      'template_all_atom_masks': out_masks,
      'template_sequence': aligned.encode(),
      'template_aatype': aatype,
      'template_domain_names': f'{pdb_id.lower()}_{chain_id}'.encode(),
  }, warning


@dataclasses.dataclass(frozen=True)
class TemplateResult:
  features: Dict[str, np.ndarray]
  warnings: List[str]
  kept: List[str]  # 'pdbid_chain' of every template kept, in order


class TemplateFeaturizer:
  """AF2's HmmsearchHitFeaturizer / HhsearchHitFeaturizer (see module docstring)."""

  def __init__(self, mmcif_dir: str, max_template_date: str, max_hits: int = 20,
               kind: str = 'hmmsearch', obsolete_path: Optional[str] = None,
               release_dates_path: Optional[str] = None,
               prefilter: filters.PrefilterSettings = filters.PrefilterSettings(),
               aligner: Aligner = kalign_align):
    if kind not in ('hmmsearch', 'hhsearch'):
      raise ValueError(f"kind must be 'hmmsearch' or 'hhsearch', got {kind!r}")
    if not os.path.isdir(mmcif_dir):
      raise TemplateError(f'{mmcif_dir}: mmCIF directory not found')
    if not glob.glob(os.path.join(mmcif_dir, '*.cif')):
      raise TemplateError(f'{mmcif_dir}: mmCIF directory has no *.cif files')
    self.mmcif_dir, self.max_hits, self.kind = mmcif_dir, max_hits, kind
    self.cutoff = filters.parse_date(max_template_date)
    self.prefilter, self.aligner = prefilter, aligner
    self.obsolete = filters.parse_obsolete(_read(obsolete_path), obsolete_path) \
        if obsolete_path else {}
    self.release_dates = filters.parse_release_dates(_read(release_dates_path),
                                                     release_dates_path) \
        if release_dates_path else {}
    self._cache: Dict[str, TemplateMmcif] = {}

  def _mmcif(self, pdb_id: str) -> TemplateMmcif:
    if pdb_id not in self._cache:
      path = os.path.join(self.mmcif_dir, pdb_id + '.cif')
      self._cache[pdb_id] = read_template_mmcif(path, pdb_id)
    return self._cache[pdb_id]

  def _single(self, query: str, hit: TemplateHit) -> Tuple[Optional[dict], Optional[str]]:
    pdb_id, chain = filters.pdb_id_and_chain(hit)
    pdb_id = filters.resolve_obsolete(pdb_id, self.obsolete, self.release_dates)
    if pdb_id is None:
      return None, f'hit {hit.name.split()[0]}: obsolete PDB entry (removed), skipped'
    try:
      filters.prefilter(hit, pdb_id, query, self.release_dates, self.cutoff, self.prefilter)
    except filters.PrefilterError as e:
      log.info('hit %s_%s did not pass prefilter: %s', pdb_id, chain, e)
      return None, None
    mapping = query_to_hit_mapping(hit, query)
    template_sequence = hit.hit_sequence.replace('-', '')
    try:
      mmcif = self._mmcif(pdb_id)
    except TemplateError as e:
      return None, f'hit {pdb_id}_{chain} skipped: {e}'
    if mmcif.release_date is not None and mmcif.release_date > self.cutoff:
      log.info('template %s released %s > %s', pdb_id, mmcif.release_date, self.cutoff)
      return None, None
    try:
      features, warning = hit_features(mmcif, pdb_id, mapping, template_sequence, query, chain,
                                       self.aligner)
    except SkipHit as e:
      return None, f'hit {pdb_id}_{chain} skipped: {e}'
    features['template_sum_probs'] = [0 if hit.sum_probs is None else hit.sum_probs]
    return features, warning

  def get_templates(self, query_sequence: str, hits: Sequence[TemplateHit]) -> TemplateResult:
    """Template features of the first `max_hits` usable hits (see module docstring)."""
    if self.kind == 'hhsearch' or (hits and hits[0].sum_probs is not None):
      order = sorted(hits, key=lambda h: h.sum_probs, reverse=True)
    else:
      order = list(hits)
    collected: Dict[str, list] = {k: [] for k in TEMPLATE_FEATURES}
    warnings, seen = [], set()
    for hit in order:
      if len(collected['template_sequence']) >= self.max_hits:
        break
      features, warning = self._single(query_sequence, hit)
      if warning:
        log.warning(warning)
        warnings.append(warning)
      if features is None:
        continue
      if self.kind == 'hmmsearch':
        if features['template_sequence'] in seen:
          continue
        seen.add(features['template_sequence'])
      for k in collected:
        collected[k].append(features[k])
    kept = [n.decode() for n in collected['template_domain_names']]
    if not kept:
      return TemplateResult(empty_template_features(len(query_sequence),
                                                    placeholder=self.kind == 'hmmsearch'),
                            warnings, kept)
    out = {k: np.stack(v, axis=0).astype(TEMPLATE_FEATURES[k]) for k, v in collected.items()}
    return TemplateResult(out, warnings, kept)


def _read(path: str) -> str:
  try:
    with open(path, encoding='utf-8') as f:
      return f.read()
  except OSError as e:
    raise TemplateError(f'{path}: cannot read ({e.strerror or e})') from None
