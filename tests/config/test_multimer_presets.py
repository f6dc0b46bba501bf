"""AF2-Multimer presets: settings equal to the oracle's configs, and the FULL-size parameter
tree (names and shapes, 48 Evoformer blocks) equal to the oracle's model (traced, no compute)."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.oracle import oracle_import, requires_oracle

from alphafold_jax.config import model_config
from alphafold_jax.model import RunModel

oracle_config = oracle_import('alphafold.model.config')
from alphafold.model import modules_multimer  # noqa: E402

V3 = [f'model_{i}_multimer_v3' for i in range(1, 6)]


pytestmark = requires_oracle


@pytest.mark.parametrize('name', V3)
def test_multimer_settings_match_oracle(name):
  ours, theirs = model_config(name), oracle_config.model_config(name).model
  e, te = ours.evoformer, theirs.embeddings_and_evoformer
  for field in ('num_msa', 'num_extra_msa', 'msa_channel', 'pair_channel', 'seq_channel',
                'extra_msa_channel', 'max_relative_idx', 'max_relative_chain',
                'evoformer_num_block', 'extra_msa_stack_num_block', 'use_chain_relative',
                'use_cluster_profile'):
    assert getattr(e, field) == te[field], field
  assert e.template.num_channels == te.template.num_channels
  assert e.template.template_pair_stack.num_block == te.template.template_pair_stack.num_block
  sm, tsm = ours.structure_module, theirs.heads.structure_module
  for field in ('num_layer', 'num_channel', 'num_head', 'num_point_qk', 'num_point_v',
                'position_scale'):
    assert getattr(sm, field) == tsm[field], field
  assert ours.num_recycle == theirs.num_recycle
  assert ours.recycle_early_stop_tolerance == theirs.recycle_early_stop_tolerance
  assert ours.heads.masked_msa.num_output == 22


def _batch(n=7, m=512, t=4):  # 512 rows: 508 centres + 4 extra, as pad_msa gives
  rng = np.random.default_rng(0)
  return {'aatype': rng.integers(0, 20, n).astype(np.int32),
          'residue_index': np.arange(n, dtype=np.int32),
          'msa': rng.integers(0, 21, (m, n)).astype(np.int32),
          'deletion_matrix': np.zeros((m, n), np.float32), 'msa_mask': np.ones((m, n), np.float32),
          'bert_mask': np.ones((m, n), np.float32), 'cluster_bias_mask': np.eye(1, m)[0],
          'seq_mask': np.ones(n, np.float32), 'asym_id': np.array([1.] * 3 + [2.] * 4),
          'entity_id': np.array([1.] * 3 + [2.] * 4), 'sym_id': np.ones(n),
          'template_aatype': np.zeros((t, n), np.int32),
          'template_all_atom_positions': np.zeros((t, n, 37, 3), np.float32),
          'template_all_atom_mask': np.zeros((t, n, 37), np.float32)}


def test_full_parameter_tree_equals_oracle():
  batch = _batch()
  ours = RunModel(model_config('model_1_multimer_v3')).param_shapes(batch)
  cfg = oracle_config.model_config('model_1_multimer_v3').model
  cfg.global_config.bfloat16 = False
  cfg.calc_extended_ptm = False
  cfg.use_probs_extended = False
  n = batch['aatype'].shape[0]
  prev = {'prev_msa_first_row': jnp.zeros((n, 256)), 'prev_pair': jnp.zeros((n, n, 128)),
          'prev_pos': jnp.zeros((n, 37, 3))}
  t = hk.transform(lambda b: modules_multimer.AlphaFold(cfg)(b, is_training=False))
  # (the oracle runs its structure module only when the batch has all_atom_positions)
  oracle_batch = {**batch, 'prev': prev, 'all_atom_positions': np.zeros((n, 37, 3), np.float32)}
  theirs = jax.eval_shape(t.init, jax.random.PRNGKey(0),
                          jax.tree_util.tree_map(jnp.asarray, oracle_batch))
  flat = lambda p: {f'{s}//{k}': tuple(v.shape) for s, d in p.items() for k, v in d.items()}
  assert flat(ours) == flat(theirs)
  assert len(flat(ours)) > 300
  assert flat(ours)['alphafold/alphafold_iteration/evoformer/evoformer_iteration/'
                    'msa_transition/transition1//weights'] == (48, 256, 1024)
