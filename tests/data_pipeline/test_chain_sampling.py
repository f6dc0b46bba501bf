"""AF2's training-chain filters and sampling weights (Suppl. 1.2.5), and the slot draws."""

import dataclasses
import pathlib

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from data_pipeline import chain_sampling as cs
from data_pipeline import dataset as dataset_lib

NANO = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'structures' / 'nano'


def test_filter_reason_thresholds():
  assert cs.filter_reason('ACDEFG', 9.0) is None  # only > 9 A drops (as OpenFold)
  assert 'resolution 9.01' in cs.filter_reason('ACDEFG', 9.01)
  assert cs.filter_reason('ACDEFG', 0.) is None  # NMR / unknown: kept
  assert cs.filter_reason('A' * 80 + 'G' * 20, 2.) is None  # exactly 80 %: kept
  assert 'A is 81%' in cs.filter_reason('A' * 81 + 'G' * 19, 2.)


def test_length_and_cluster_weights():
  np.testing.assert_allclose(cs.length_weight([13, 256, 300, 512, 1000]),
                             [0.5, 0.5, 300 / 512, 1., 1.])
  names = ['a1', 'A2', 'b1', 'c1', 'X']
  clusters = {'A1': 0, 'A2': 0, 'B1': 1, 'C1': 1, 'UNUSED': 1}
  sizes = cs.cluster_sizes(names, clusters)
  np.testing.assert_array_equal(sizes, [2, 2, 2, 2, 1])  # X: its own cluster
  lengths = [100, 300, 600, 256, 700]
  probs = cs.chain_weights(lengths, sizes)
  raw = np.array([0.5 / 2, (300 / 512) / 2, 1. / 2, 0.5 / 2, 1.])
  np.testing.assert_allclose(probs, raw / raw.sum())


def test_read_clusters(tmp_path):
  path = tmp_path / 'clusters.txt'
  path.write_text('1abc_A 2DEF_B\n\n3GHI_C\n')
  assert cs.read_clusters(path) == {'1ABC_A': 0, '2DEF_B': 0, '3GHI_C': 2}
  path.write_text('1ABC_A 2DEF_B\n1abc_a\n')
  with pytest.raises(cs.ClusterFileError, match=r'clusters.txt:2: 1abc_a is already in'):
    cs.read_clusters(path)
  with pytest.raises(cs.ClusterFileError, match='cannot read'):
    cs.read_clusters(tmp_path / 'missing.txt')


def _chi_square(counts, probs):
  expected = probs * counts.sum()
  return float(((counts - expected) ** 2 / expected).sum())


def test_weighted_draws_match_the_weights():
  """20 000 slot draws over 7 chains of distinct weights: chi-square (6 d.o.f.) below its
  0.1 % critical value 22.46; the seeded draws are fixed, so this cannot flake."""
  probs = cs.chain_weights([40, 256, 300, 380, 450, 512, 900], [1, 1, 2, 1, 3, 1, 2])
  source = cs.WeightedSource(probs, 1.)
  draws = [cs.draw_slot(3, g, [source]) for g in range(20_000)]
  assert {s for s, _ in draws} == {0}
  counts = np.bincount([i for _, i in draws], minlength=7)
  assert _chi_square(counts, probs) < 22.46, (counts, probs * 20_000)
  # Wrong weights (uniform) are rejected by the same statistic.
  assert _chi_square(counts, np.full(7, 1 / 7)) > 22.46


def test_mixture_fraction_and_determinism():
  pdb = cs.WeightedSource(np.full(3, 1 / 3), 0.25)
  distill = cs.WeightedSource(np.array([0.2, 0.8]), 0.75)
  draws = [cs.draw_slot(11, g, [pdb, distill]) for g in range(8_000)]
  fraction = np.mean([s == 1 for s, _ in draws])
  assert abs(fraction - 0.75) < 4 * np.sqrt(0.75 * 0.25 / 8_000), fraction  # 4 sigma
  within = np.bincount([i for s, i in draws if s == 1], minlength=2)
  assert _chi_square(within, distill.probs) < 10.83  # 1 d.o.f., 0.1 %
  # A slot's draw depends on (seed, slot) only: any order, any process.
  assert [cs.draw_slot(11, g, [pdb, distill]) for g in (7, 3, 5000)] == [draws[7], draws[3],
                                                                          draws[5000]]
  assert [cs.draw_slot(12, g, [pdb, distill]) for g in range(50)] != draws[:50]


def _with_resolution(text: str, resolution: str) -> str:
  lines = [l for l in text.splitlines() if not l.startswith('REMARK   2 RESOLUTION')]
  return f'REMARK   2 RESOLUTION.    {resolution} ANGSTROMS.\n' + '\n'.join(lines) + '\n'


def test_af2_filters_drop_exactly_the_right_entries(tmp_path):
  crn = (NANO / '1CRN.pdb').read_text()  # 1.50 A
  (tmp_path / 'KEEP_XRAY.pdb').write_text(crn)
  (tmp_path / 'KEEP_9A.pdb').write_text(_with_resolution(crn, '9.00'))
  (tmp_path / 'DROP_LOWRES.pdb').write_text(_with_resolution(crn, '9.50'))
  (tmp_path / 'KEEP_NMR.pdb').write_text((NANO / '1VII.pdb').read_text())  # NOT APPLICABLE
  # 1VII's backbone with 30 of its 36 residues made alanine: 83 % one residue type.
  vii = protein_lib.from_file(NANO / '1VII.pdb')
  aatype = np.array(vii.aatype)
  aatype[:30] = rc.restype_order['A']
  backbone = np.zeros(37, np.float32)
  backbone[[rc.atom_order[a] for a in ('N', 'CA', 'C', 'O')]] = 1
  poly_ala = dataclasses.replace(vii, aatype=aatype, atom_mask=vii.atom_mask * backbone)
  (tmp_path / 'DROP_POLYALA.pdb').write_text(protein_lib.to_pdb(poly_ala))

  config = dataset_lib.DatasetConfig(crop_size=13, buckets=None, num_res=13,
                                     feature_config=None, skip_bad=True, af2_filters=True)
  dataset = dataset_lib.StructureDataset(tmp_path, config)
  assert dataset.validate() == []  # nothing unreadable
  assert dataset.names == ['KEEP_9A', 'KEEP_NMR', 'KEEP_XRAY']
  reasons = dict(dataset.filtered)
  assert sorted(reasons) == ['DROP_LOWRES', 'DROP_POLYALA']
  assert 'resolution 9.5' in reasons['DROP_LOWRES'] and 'A is 83%' in reasons['DROP_POLYALA']
  # AF2's weights of the kept chains (46, 36, 46 residues: all under 256 -> equal).
  assert dataset.num_residues == {'KEEP_9A': 46, 'KEEP_NMR': 36, 'KEEP_XRAY': 46}
  np.testing.assert_allclose(dataset.sampling_probs(), np.full(3, 1 / 3))
  np.testing.assert_allclose(dataset.sampling_probs({'KEEP_9A': 0, 'KEEP_XRAY': 0}),
                             [0.25, 0.5, 0.25])
  # Without the switch nothing is filtered.
  plain = dataset_lib.StructureDataset(tmp_path, dataclasses.replace(config, af2_filters=False))
  plain.validate()
  assert len(plain) == 5 and plain.filtered == []
