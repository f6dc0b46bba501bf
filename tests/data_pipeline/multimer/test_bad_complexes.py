"""Bad complexes at the pipeline level (data_pipeline.multimer): one-line errors naming the
chain and the problem. (The CLI's own checks: tests/inference/test_predict_complex.py.)"""

import numpy as np
import pytest

from data_pipeline.errors import FeatureError, PipelineError
from data_pipeline.multimer import ChainInput, ComplexError, make_multimer_features
from data_pipeline.multimer.cropping import contiguous_crop_indices, pad_complex
from data_pipeline.parsers import Msa

A, B = 'MKTAYIAKQR', 'GSHMLEDPV'


def _msa(query, *rows):
  seqs = [query, *rows]
  return Msa(seqs, [[0] * len(query) for _ in seqs], [f'r{i}' for i in range(len(seqs))])


@pytest.mark.parametrize('chains,words', [
    ([ChainInput(A), ChainInput('')], 'chain B is empty'),
    ([ChainInput(A, msas=[_msa(A)]), ChainInput(B, msas=[_msa('GSHMLEDPA')])],
     'chain B: MSA 0 query row does not match the sequence'),
    ([ChainInput(A, pairing_msas=[_msa('MKTAYIAKQA')]), ChainInput(B)],
     'chain A: pairing MSA 0 query row does not match the sequence'),
    ([ChainInput(A, msas=[_msa(A, 'MKTAY')]), ChainInput(B)],
     'chain A: MSA 0 row 1 has 5 columns'),
    ([ChainInput('ACD')] * 63, '63 chains; at most 62'),
    ([], 'needs at least one chain'),
])
def test_bad_complex_one_line_error(chains, words):
  with pytest.raises(PipelineError) as info:
    make_multimer_features(chains)
  msg = str(info.value)
  assert words in msg and '\n' not in msg, msg


def test_crop_limits():
  rng = np.random.default_rng(0)
  for bad in (0, -3):
    with pytest.raises(FeatureError, match='crop size must be >= 1'):
      contiguous_crop_indices([5, 4], bad, rng)
  with pytest.raises(FeatureError, match='every chain needs >= 1 residue'):
    contiguous_crop_indices([5, 0, 4], 6, rng)
  # more chains than crop residues: AF-Multimer's Alg. 1 keeps what fits, the rest is dropped
  idx = contiguous_crop_indices([3, 2, 4, 1, 5], 3, rng)
  assert len(idx) == 3 and len(set(idx.tolist())) == 3
  feats = make_multimer_features([ChainInput(A), ChainInput(B)])
  with pytest.raises(FeatureError, match=f'cannot pad a complex of {len(A) + len(B)} residues'):
    pad_complex(feats, 4)
  assert issubclass(ComplexError, PipelineError)
