"""`alphafold-jax score` end to end (in-process main()), residue correspondence, errors."""

import json

import numpy as np
import pytest

from alphafold_jax.common import protein
from alphafold_jax import cli
from alphafold_jax.cli import score
from alphafold_jax.metrics.scoring import score_proteins
from alphafold_jax.metrics.sequence_alignment import needleman_wunsch


def test_score_1crn_vs_rotated_copy(data_dir, capsys):
  code = cli.main(['score', str(data_dir / 'structures/nano/1CRN.pdb'),
                   str(data_dir / '1CRN_rotated.pdb')])
  out = capsys.readouterr().out
  assert code == 0
  assert 'CA-RMSD   = 0.000 A' in out
  assert 'TM-score  = 1.0000' in out
  assert 'GDT-TS    = 1.0000' in out and 'lDDT-Ca   = 1.0000' in out
  assert '46 residues, aligned by residue_index' in out


def test_score_perturbed_structure(data_dir):
  # 1CRN vs a perturbed copy written to disk: scores strictly between 0 and 1
  ref = protein.from_file(data_dir / 'structures/nano/1CRN.pdb')
  rng = np.random.default_rng(0)
  noisy = ref.replace(atom_positions=ref.atom_positions + rng.normal(size=ref.atom_positions.shape)
                      .astype(np.float32) * 1.5)
  direct = score_proteins(noisy, ref)
  assert 0.3 < direct['tm_score'] < 0.95 and 0.8 < direct['ca_rmsd'] < 4.
  assert 0. < direct['lddt_ca'] < 0.9 and 0. < direct['gdt_ts'] < 1.
  assert direct['gdt_ha'] < direct['gdt_ts']


def test_json_output_and_chains(tmp_path, data_dir, capsys):
  model = data_dir / '1CRN_rotated.pdb'
  code = cli.main(['score', str(model), str(data_dir / 'structures/nano/1CRN.pdb'),
                   '--model-chain', 'A', '--ref-chain', 'A', '--json'])
  assert code == 0
  result = json.loads(capsys.readouterr().out)
  assert result['ca_rmsd'] < 1e-3 and result['tm_score'] == pytest.approx(1., abs=1e-6)
  assert result['aligned_residues'] == 46 and result['alignment'] == 'residue_index'
  assert set(result['gdt_fractions']) == {'d<1', 'd<2', 'd<4', 'd<8'}


def test_renumbered_and_truncated_model_aligns_by_sequence(tmp_path, data_dir):
  ref = protein.from_file(data_dir / 'structures/nano/1UBQ.pdb')
  keep = slice(5, 70)
  model = protein.Protein(aatype=ref.aatype[keep], atom_positions=ref.atom_positions[keep] + 7.,
                          atom_mask=ref.atom_mask[keep],
                          residue_index=np.arange(101, 101 + 65))  # different numbering
  result = score_proteins(model, ref)
  assert result['alignment'] == 'sequence' and result['aligned_residues'] == 65
  assert result['ca_rmsd'] < 1e-3
  # normalised by the full reference length (76 residues), so TM < 1
  assert result['tm_score'] == pytest.approx(65 / 76, abs=1e-4)
  # forcing residue numbers finds no common residues -> clear error
  with pytest.raises(ValueError, match='in common'):
    score_proteins(model, ref, align='index')


def test_needleman_wunsch_with_gaps():
  a = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  b = np.array([0, 1, 2, 5, 6, 7, 8, 11, 9])  # deletion of 3, 4 and an insertion
  ia, ib = needleman_wunsch(a, b)
  pairs = set(zip(ia.tolist(), ib.tolist()))
  assert {(0, 0), (1, 1), (2, 2), (5, 3), (6, 4), (7, 5), (8, 6), (9, 8)} <= pairs
  assert all(a[i] == b[j] for i, j in pairs)


def test_bad_inputs_exit_2_with_one_line(tmp_path, data_dir, capsys):
  crn = str(data_dir / 'structures/nano/1CRN.pdb')
  missing = str(tmp_path / 'missing.pdb')
  assert cli.main(['score', crn, missing]) == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and 'missing.pdb' in err and 'Traceback' not in err
  assert err.startswith('alphafold-jax score: error:')

  garbage = tmp_path / 'garbage.pdb'
  garbage.write_text('this is not a structure\n')
  assert cli.main(['score', str(garbage), crn]) == 2
  assert capsys.readouterr().err.count('\n') == 1

  assert cli.main(['score', crn, crn, '--ref-chain', 'Z']) == 2
  assert 'Z' in capsys.readouterr().err

  assert cli.main(['score', crn]) == 2  # argparse usage error
  assert 'usage' in capsys.readouterr().err
  assert cli.main(['no-such-command']) == 2


def test_subcommand_registry_is_data():
  names = [name for name, _ in cli.SUBCOMMANDS]
  assert names[0] == 'score' and len(set(names)) == len(names)
  parser = cli.build_parser()
  args = parser.parse_args(['score', 'a.pdb', 'b.cif', '--json'])
  assert args.func is score.run and args.json and args.align == 'auto'
