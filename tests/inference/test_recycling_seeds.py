"""Early stop of recycling, and seeds vs dropout, on a micro AF2 model (random params).

Early stop (AF2 multimer / ColabFold semantics, model/alphafold.py): after cycle k >= 1 the
loop stops when the RMS change of the CA distance matrix between cycles k-1 and k is
<= recycle_early_stop_tolerance; one more cycle then gives the outputs, so it reports
num_recycles = k + 1 and equals the plain run with num_recycle = k + 1.

Seeds: the model's PRNG key only feeds dropout, so on the same processed features two seeds
give identical outputs unless dropout is on at inference (GlobalConfig.eval_dropout,
`predict --use-dropout`). Cost: three compiles of the micro model (plain, early stop, dropout).
"""

import jax.numpy as jnp
import numpy as np

import data_pipeline
from alphafold_jax.config import model_config
from alphafold_jax.model import RunModel
from alphafold_jax.model.alphafold import ca_distance_change

from tests.inference.test_predict_models import _random_params, MICRO  # noqa: F401

SEQ = 'MKTAYIAKQRQISFVKSHF'
NUM_RECYCLE = 4


def _model(**overrides):
  config = model_config('model_3_ptm', **{**MICRO, 'num_recycle': NUM_RECYCLE, **overrides})
  return RunModel(config)


def _setup():
  plain = _model()
  raw = data_pipeline.make_raw_features(SEQ, 'query')
  feats = plain.process_features(raw, random_seed=0)
  plain.params = _random_params(plain.param_shapes(feats), seed=4)
  return plain, feats


def test_early_stop_lowers_the_recycle_count_and_seeds_differ_only_with_dropout():
  plain, feats = _setup()
  seq_mask = jnp.asarray(feats['seq_mask'][0])
  pos = [plain.predict(feats, num_recycle=k)['final_atom_positions'] for k in range(3)]
  changes = [float(ca_distance_change(jnp.asarray(pos[k - 1]), jnp.asarray(pos[k]), seq_mask))
             for k in (1, 2)]  # d_1, d_2 (angstrom)
  full = plain.predict(feats)
  assert int(full['num_recycles']) == NUM_RECYCLE  # tolerance 0: every cycle runs
  # Measured: d_1..d_4 = 0.80, 0.66, 0.61, 0.65 A (converging over the first cycles), so
  # the tolerance 1.01 * d_2 stops after cycle 2: 3 recycles instead of 4.
  tol = 1.01 * min(changes)
  first = 1 + next(k for k, d in enumerate(changes) if d <= tol)
  early = _model(recycle_early_stop_tolerance=tol)
  early.params = plain.params
  out = early.predict(feats)
  assert int(out['num_recycles']) == first + 1 < NUM_RECYCLE, (changes, out['num_recycles'])
  same = plain.predict(feats, num_recycle=first + 1)
  np.testing.assert_allclose(out['final_atom_positions'], same['final_atom_positions'],
                             atol=1e-3)

  # Seeds: no effect without dropout (bitwise), an effect with it.
  other_seed = plain.predict(feats, random_seed=1)
  np.testing.assert_array_equal(other_seed['final_atom_positions'], full['final_atom_positions'])
  dropout = _model(eval_dropout=True)
  dropout.params = plain.params
  a, b = dropout.predict(feats, random_seed=0), dropout.predict(feats, random_seed=1)
  again = dropout.predict(feats, random_seed=0)
  np.testing.assert_array_equal(a['final_atom_positions'], again['final_atom_positions'])
  assert np.abs(a['final_atom_positions'] - b['final_atom_positions']).max() > 1e-2
  assert np.abs(a['plddt'] - b['plddt']).max() > 1e-3
