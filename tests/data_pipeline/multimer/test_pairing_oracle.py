"""Multimer input pipeline vs the oracle's (`alphafold.data.pipeline_multimer`, `msa_pairing`,
`feature_processing`) on real MSAs whose descriptions carry UniProt species ids.

Chains: A = the `af2_pipeline_example` query (73 res; its BFD/Uniclust A3M has `tr|..._SPECIES`
rows), B = xylanase 6KWC (191 res; 5 species shared with A), C = EGF 1A3P (45 res; none shared
with A or B, so 3-chain pairings need padding rows). The oracle gets the same per-chain monomer
features (AF2 runs its monomer pipeline + a UniProt search; here each chain's species-annotated
A3M is the pairing MSA) and runs its own conversion, assembly ids, pairing, cropping and merging.
"""

import copy
import pathlib

import numpy as np
import pytest

from tests.oracle import oracle_import, requires_oracle

from data_pipeline import parsers
from data_pipeline.multimer import ChainInput, ComplexError, assemble, chain_raw_features
from data_pipeline.multimer import make_multimer_features
from data_pipeline.multimer.pairing import pair_rows

pm = oracle_import('alphafold.data.pipeline_multimer')
from alphafold.data import feature_processing  # noqa: E402
from alphafold.data import msa_identifiers  # noqa: E402
from alphafold.data import parsers as oracle_parsers  # noqa: E402
from alphafold.data import pipeline as oracle_pipeline  # noqa: E402

pytestmark = requires_oracle


MSA = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'msa'


def _read(path):
  text = (MSA / path).read_text()
  return parsers.parse_a3m(text) if path.endswith('.a3m') else parsers.parse_stockholm(text)


@pytest.fixture(scope='module')
def chains():
  a_bfd = _read('af2_pipeline_example/bfd_uniclust_hits.a3m')
  a = ChainInput(a_bfd.sequences[0], 'A', msas=[
      _read('af2_pipeline_example/uniref90_hits.sto'), a_bfd,
      _read('af2_pipeline_example/mgnify_hits.sto')], pairing_msas=[a_bfd])
  b_bfd = _read('xylanase_6KWC_1/bfd_uniref_hits.a3m')
  b = ChainInput(b_bfd.sequences[0], 'B', msas=[b_bfd], pairing_msas=[b_bfd])
  c_bfd = _read('egf_1A3P_A/bfd_uniclust_hits.a3m')
  c = ChainInput(c_bfd.sequences[0], 'C', msas=[c_bfd], pairing_msas=[c_bfd])
  return {'A': a, 'B': b, 'C': c}


def _templates(rng, num_templates, num_res):
  aatype = np.eye(22)[rng.integers(0, 22, (num_templates, num_res))]
  return {'template_aatype': aatype.astype(np.float32),
          'template_all_atom_positions': rng.normal(size=(num_templates, num_res, 37, 3)),
          'template_all_atom_masks': (rng.random((num_templates, num_res, 37)) > 0.3)
          .astype(np.float32)}


def _oracle(raw_chains, msa_crop_size, monkeypatch):
  """The oracle's pipeline_multimer.DataPipeline.process after its searches."""
  monkeypatch.setattr(feature_processing, 'MSA_CROP_SIZE', msa_crop_size)
  converted = {cid: pm.convert_monomer_features(copy.deepcopy(raw), chain_id=cid)
               for cid, raw in raw_chains.items()}
  example = feature_processing.pair_and_merge(pm.add_assembly_features(converted))
  return pm.pad_msa(example, 512)


def _assert_same(ours, theirs):
  assert sorted(ours) == sorted(theirs)
  for k in theirs:
    assert ours[k].dtype == theirs[k].dtype, k
    np.testing.assert_array_equal(ours[k], theirs[k], err_msg=k)


@pytest.mark.parametrize('ids,crop', [('AB', 2048), ('AB', 24), ('ABC', 2048), ('ABA', 2048),
                                      ('AA', 2048), ('BAB', 30)])
def test_complex_features_match_oracle(chains, ids, crop, monkeypatch):
  rng = np.random.default_rng(len(ids) + crop)
  with_pairing = len(set(ids)) > 1
  raw_chains, by_id = {}, {}
  for i, cid in enumerate(ids):
    if cid not in by_id:
      raw = chain_raw_features(chains[cid], cid, with_pairing)
      n = len(chains[cid].sequence)
      raw.update(_templates(rng, {'A': 2, 'B': 0, 'C': 5}[cid], n))
      by_id[cid] = raw
    raw_chains['ABCDEFG'[i]] = copy.deepcopy(by_id[cid])
  ours = assemble(copy.deepcopy(raw_chains), msa_crop_size=crop)
  theirs = _oracle(raw_chains, crop, monkeypatch)
  _assert_same(ours, theirs)
  if with_pairing:  # the paired block is really there (query + species pairings)
    assert ours['cluster_bias_mask'][0] == 1 and ours['msa'].shape[0] >= 512


def test_species_ids_and_paired_rows_match_oracle(chains):
  """From the files: species ids (our parser vs the oracle's) and the paired row indices."""
  raws = {cid: chain_raw_features(chains[cid], cid, True) for cid in 'ABC'}
  for cid in 'ABC':
    text = (MSA / {'A': 'af2_pipeline_example/bfd_uniclust_hits.a3m',
                   'B': 'xylanase_6KWC_1/bfd_uniref_hits.a3m',
                   'C': 'egf_1A3P_A/bfd_uniclust_hits.a3m'}[cid]).read_text()
    msa = oracle_parsers.parse_a3m(text)
    theirs = oracle_pipeline.make_msa_features([msa])
    ours = raws[cid]
    # the pairing A3Ms hold no duplicate rows: our de-duplicating reader gives the same rows
    np.testing.assert_array_equal(ours['msa_all_seq'], theirs['msa'])
    np.testing.assert_array_equal(ours['deletion_matrix_int_all_seq'],
                                  theirs['deletion_matrix_int'])
    assert list(ours['msa_species_identifiers_all_seq']) == [
        msa_identifiers.get_identifiers(d).species_id.encode() for d in msa.descriptions]
  from alphafold.data import msa_pairing
  for ids in ('AB', 'ABC'):
    feats = [{'msa_all_seq': raws[c]['msa_all_seq'],
              'msa_species_identifiers_all_seq': raws[c]['msa_species_identifiers_all_seq']}
             for c in ids]
    theirs = msa_pairing.reorder_paired_rows(msa_pairing.pair_sequences(feats))
    ours = pair_rows(feats)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.shape[0] > 5  # species really paired (A-B share 5 species)


def test_bad_complex_inputs_give_one_line_errors(chains):
  a = chains['A']
  bad_query = ChainInput(a.sequence, 'A', msas=[chains['B'].msas[0]])
  for bad, words in [([bad_query, chains['B']], 'chain A'),
                     ([ChainInput('', 'x'), a], 'chain A is empty'),
                     ([ChainInput('ACDE')] * 63, 'at most 62')]:
    with pytest.raises(ComplexError, match=words) as e:
      make_multimer_features(bad)
    assert '\n' not in str(e.value)
