"""Output writers of `predict` without a model: structures, confidence/ranking JSON, plots,
atomic output directories."""

import json
import os

import numpy as np
import pytest
from Bio.PDB import MMCIFParser, PDBParser
from Bio.PDB.MMCIF2Dict import MMCIF2Dict
from Bio.SeqUtils import seq1

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from alphafold_jax.inference import outputs, plots
from alphafold_jax.inference.predict import Sample, TargetResult, rank_samples
from alphafold_jax.inference.targets import Target
from data_pipeline.raw_features import sequence_to_aatype


def _fake_sample(sequence, seed, pae=True):
  """A Sample with random coordinates on the atoms that exist for each residue type."""
  rng = np.random.default_rng(seed)
  n = len(sequence)
  aatype = sequence_to_aatype(sequence)
  mask = rc.restype_atom37_mask[aatype].astype(np.float32)  # [L, 37]
  positions = (rng.normal(size=(n, 37, 3)) * 5.).astype(np.float32) * mask[..., None]
  pae_matrix = rng.uniform(0., 31.75, size=(n, n)).astype(np.float32) if pae else None
  return Sample(seed=seed, final_atom_positions=positions, final_atom_mask=mask,
                plddt=rng.uniform(20., 95., size=n).astype(np.float32), num_recycles=1,
                bucket=16, predicted_aligned_error=pae_matrix,
                max_predicted_aligned_error=31.75 if pae else None,
                ptm=float(rng.uniform()) if pae else None)


def _result(name, sequence, seeds, pae=True):
  samples = [_fake_sample(sequence, s, pae) for s in seeds]
  return TargetResult(target=Target(name=name, description=name, sequence=sequence),
                      samples=samples, ranking=rank_samples(samples))


def _pdb_bfactors(path):
  structure = PDBParser(QUIET=True).get_structure('x', path)
  residues = list(structure[0]['A'])
  return residues, [[a.get_bfactor() for a in r] for r in residues]


def test_protein_from_prediction_has_plddt_bfactors_and_numbering():
  seq = 'MKTAYIAKQRX'
  sample = _fake_sample(seq, 3)
  prot = outputs.prediction_to_protein(seq, sample)
  assert prot.sequence == seq and prot.chain_id == 'A'
  np.testing.assert_array_equal(prot.residue_index, np.arange(1, 12))
  rounded = np.round(sample.plddt.astype(np.float64), 2)
  present = prot.atom_mask > 0.5
  np.testing.assert_allclose(prot.b_factors[present],
                             np.broadcast_to(rounded[:, None], present.shape)[present], atol=1e-4)
  assert np.all(prot.b_factors[~present] == 0)
  with pytest.raises(ValueError, match='do not fit'):
    outputs.prediction_to_protein(seq[:-1], sample)


def test_write_target_files_read_back(tmp_path):
  seq = 'GSHMWYVDEPC'
  result = _result('t7', seq, seeds=[5, 6, 7])
  files = outputs.write_target(str(tmp_path), result)
  stems = ['t7', 't7.sample_0', 't7.sample_1', 't7.sample_2']
  expected = {f'{s}{ext}' for s in stems for ext in ('.pdb', '.cif', '.confidence.json')}
  expected |= {'t7.ranking.json', 't7.plddt.png', 't7.pae.png'}
  assert set(files) == expected == set(os.listdir(tmp_path))

  ranking = json.loads((tmp_path / 't7.ranking.json').read_text())
  means = [s['mean_plddt'] for s in ranking['samples']]
  assert ranking['order'] == sorted(range(3), key=lambda k: -means[k])
  assert [s['seed'] for s in ranking['samples']] == [5, 6, 7]
  best = ranking['best_sample']
  assert best == ranking['order'][0]
  # NAME.pdb is the best sample
  assert (tmp_path / 't7.pdb').read_text() == (tmp_path / f't7.sample_{best}.pdb').read_text()

  conf = json.loads((tmp_path / 't7.confidence.json').read_text())
  sample = result.samples[best]
  assert conf['sequence'] == seq and conf['seed'] == sample.seed and conf['rank'] == 0
  np.testing.assert_allclose(conf['plddt'], sample.plddt, atol=0.005 + 1e-6)
  assert conf['mean_plddt'] == pytest.approx(np.mean(conf['plddt']), abs=0.006)
  pae = np.asarray(conf['predicted_aligned_error'])
  assert pae.shape == (11, 11)
  np.testing.assert_allclose(pae, sample.predicted_aligned_error, atol=0.005 + 1e-5)
  assert conf['max_predicted_aligned_error'] == 31.75
  assert conf['ptm'] == pytest.approx(sample.ptm, abs=1e-4)

  # PDB: sequence, numbering, B-factors == JSON pLDDT, TER/END
  residues, bfactors = _pdb_bfactors(tmp_path / 't7.pdb')
  assert ''.join(seq1(r.get_resname()) for r in residues) == seq
  assert [r.id[1] for r in residues] == list(range(1, 12))
  for b_row, value in zip(bfactors, conf['plddt']):
    assert b_row and all(b == value for b in b_row)
  text = (tmp_path / 't7.pdb').read_text().splitlines()
  assert any(line.startswith('TER') for line in text) and text[-1].startswith('END')

  # mmCIF: parses, same coordinates, same B-factors, sequence in the entity category
  cif = MMCIFParser(QUIET=True).get_structure('x', tmp_path / 't7.cif')
  pdb = PDBParser(QUIET=True).get_structure('x', tmp_path / 't7.pdb')
  xyz_cif = np.array([a.coord for a in cif.get_atoms()])
  xyz_pdb = np.array([a.coord for a in pdb.get_atoms()])
  np.testing.assert_allclose(xyz_cif, xyz_pdb, atol=1e-3)
  mmcif = MMCIF2Dict(str(tmp_path / 't7.cif'))
  assert mmcif['_entity_poly.pdbx_seq_one_letter_code_can'][0] == seq
  b_cif = np.array(mmcif['_atom_site.B_iso_or_equiv'], float)
  np.testing.assert_array_equal(b_cif, [a.get_bfactor() for a in pdb.get_atoms()])
  back = protein_lib.from_file(tmp_path / 't7.cif')
  assert back.sequence == seq


def test_single_sample_without_pae(tmp_path):
  result = _result('solo', 'ACDEFGHIKLMNPQRSTVWY', seeds=[0], pae=False)
  files = outputs.write_target(str(tmp_path), result)
  assert set(files) == {'solo.pdb', 'solo.cif', 'solo.confidence.json', 'solo.ranking.json',
                        'solo.plddt.png'}
  conf = json.loads((tmp_path / 'solo.confidence.json').read_text())
  assert 'predicted_aligned_error' not in conf and 'ptm' not in conf
  assert len(conf['plddt']) == 20


def test_plots_are_png_of_the_requested_kind(tmp_path):
  rng = np.random.default_rng(0)
  plots.plot_plddt(rng.uniform(0, 100, 13), str(tmp_path / 'a.png'), 'x')
  plots.plot_pae(rng.uniform(0, 30, (13, 13)), str(tmp_path / 'b.png'), 31.75, 'x')
  import matplotlib.image as mpimg  # pylint: disable=import-outside-toplevel
  for name, size in (('a.png', (350, 700)), ('b.png', (460, 550))):
    data = (tmp_path / name).read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    image = mpimg.imread(tmp_path / name)
    assert image.shape[:2] == size
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_rank_samples_orders_by_mean_plddt_then_seed():
  base = _fake_sample('ACDEFG', 0)
  samples = [Sample(**{**base.__dict__, 'seed': s, 'plddt': np.full(6, p, np.float32)})
             for s, p in ((4, 60.), (5, 80.), (6, 70.), (3, 80.))]
  assert rank_samples(samples) == [3, 1, 2, 0]


def test_atomic_output_dir_success_new_and_existing(tmp_path):
  out = tmp_path / 'a' / 'b' / 'out'  # parents do not exist yet
  with outputs.atomic_output_dir(str(out)) as tmp:
    assert not out.exists() and os.path.isdir(tmp)
    (open(os.path.join(tmp, 'x.txt'), 'w')).write('1')
  assert sorted(os.listdir(out)) == ['x.txt']
  umask = os.umask(0)
  os.umask(umask)
  assert os.stat(out).st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0700
  # existing directory: files replaced/added, unrelated files kept
  (out / 'keep.txt').write_text('k')
  with outputs.atomic_output_dir(str(out)) as tmp:
    (open(os.path.join(tmp, 'x.txt'), 'w')).write('2')
  assert sorted(os.listdir(out)) == ['keep.txt', 'x.txt'] and (out / 'x.txt').read_text() == '2'
  assert sorted(os.listdir(out.parent)) == ['out']  # no temporary directory left


def test_atomic_output_dir_failure_leaves_nothing(tmp_path):
  out = tmp_path / 'out'
  with pytest.raises(RuntimeError, match='boom'):
    with outputs.atomic_output_dir(str(out)) as tmp:
      (open(os.path.join(tmp, 'x.pdb'), 'w')).write('partial')
      raise RuntimeError('boom')
  assert os.listdir(tmp_path) == []
  out.mkdir()
  (out / 'old.pdb').write_text('old')
  with pytest.raises(RuntimeError):
    with outputs.atomic_output_dir(str(out)) as tmp:
      (open(os.path.join(tmp, 'old.pdb'), 'w')).write('new')
      raise RuntimeError('boom')
  assert os.listdir(tmp_path) == ['out'] and (out / 'old.pdb').read_text() == 'old'
  (tmp_path / 'file').write_text('')
  with pytest.raises(FileExistsError):
    with outputs.atomic_output_dir(str(tmp_path / 'file')):
      pass


def test_confidence_json_holds_the_geometry_and_violations_of_its_structure(tmp_path):
  """The "geometry" / "violations" figures are those of the written structure (recomputed
  from the PDB read back, 3-decimal coordinates)."""
  from alphafold_jax.metrics.backbone_geometry import backbone_geometry  # pylint: disable=import-outside-toplevel
  from alphafold_jax.metrics.structural_violations import violation_report  # pylint: disable=import-outside-toplevel
  outputs.write_target(str(tmp_path), _result('geo', 'MKTAYIAKQRPGSW', seeds=[2]), plots=False)
  conf = json.loads((tmp_path / 'geo.confidence.json').read_text())
  back = protein_lib.from_file(tmp_path / 'geo.pdb')
  args = (back.atom_positions, back.atom_mask, back.aatype, back.residue_index)
  geometry, violations = backbone_geometry(*args), violation_report(
      back.aatype, back.atom_positions, back.atom_mask, back.residue_index)
  assert conf['geometry'].keys() == geometry.keys() and conf['violations'] == violations
  for name, value in geometry.items():
    assert conf['geometry'][name] == pytest.approx(value, abs=2e-3), name
  # Random coordinates: broken chain, every residue violates.
  assert conf['geometry']['c_n_over_1_8'] > 0 and conf['geometry']['c_n_bonds'] == 13
  assert conf['violations']['num_residue_violations'] == 14
