"""Padded residues (data_pipeline.multimer.cropping.pad_complex: seq_mask 0, asym_id 0) do not
change the multimer model's outputs at real residues (in-model sampling included: its random
numbers are padding consistent), so complexes can share a compiled length bucket."""

import numpy as np

from alphafold_jax.config import model_config
from alphafold_jax.model import RunModel
from data_pipeline.multimer import ChainInput, make_multimer_features
from data_pipeline.multimer.cropping import pad_complex
from tests.random_params import STACKED_SCOPES, random_params


def test_padding_does_not_change_real_residues():
  example = make_multimer_features([ChainInput('MKTAYIAKQRQIS'), ChainInput('GSHMLEDPV')])
  n = example['aatype'].shape[0]
  model = RunModel(model_config('tiny_multimer'))
  model.params = random_params(model.param_shapes(example), seed=4, stacked=STACKED_SCOPES)
  ours = model.predict(example, random_seed=1)
  padded = model.predict(pad_complex(example, n + 5), random_seed=1)
  d_pos = np.max(np.abs(padded['final_atom_positions'][:n] - ours['final_atom_positions']))
  assert np.max(np.abs(ours['final_atom_positions'])) > 1.0
  assert d_pos < 1e-3, d_pos
  np.testing.assert_allclose(padded['plddt'][:n], ours['plddt'], atol=1e-3)
  np.testing.assert_allclose(padded['iptm'], ours['iptm'], atol=1e-5)
  np.testing.assert_allclose(padded['ptm'], ours['ptm'], atol=1e-5)
