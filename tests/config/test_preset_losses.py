"""Every monomer preset's loss runs on that preset's own outputs (one home per setting: the loss
weights decide which heads exist, so no weight can name a head the model lacks), and a head's
bin layout is the loss's: changing `heads.distogram.num_bins` changes the bins the loss uses.

Traced with `jax.eval_shape` (model + AF2 losses, no compile) at small widths; the presets keep
their own head set, templates and loss weights.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.config import PRESETS, model_config
from alphafold_jax.losses import LossConfig, distogram_loss
from alphafold_jax.training import af2_presets, presets
from alphafold_jax.training.config import TrainConfig
from alphafold_jax.training.data import DatasetSampler
from tests.training.conftest import NANO

SMALL = dict(msa_channel=8, pair_channel=6, seq_channel=10, extra_msa_channel=4,
             evoformer_num_block=1, extra_msa_stack_num_block=1, num_head=2,
             num_outer_channel=3, num_intermediate_channel=4, template_channel=4,
             num_channel=12, num_scalar_qk=2, num_scalar_v=2, num_point_qk=1, num_point_v=1,
             num_layer=1, num_channels=8, key_dim=None, value_dim=None, max_msa_clusters=6,
             max_extra_msa=5, max_templates=2, structure_module_num_layer=1,
             template_pair_stack_num_block=1)
MONOMER = sorted(name for name in PRESETS if 'multimer' not in name)  # multimer: no training yet
CROP = 9


def _trace_loss(config):
  """(predictions shapes, loss/metrics shapes) of the preset's training loss on a real crop."""
  init, loss_fn, _ = af2_presets.build(config, train_config=TrainConfig(max_recycle=1))
  named = [('1L2Y', protein_lib.from_file(NANO / '1L2Y.pdb'))]
  example = {k: v[0] for k, v in DatasetSampler(presets.training_examples(
      named, CROP, af2_presets.example_feature_config(config)), 1)(0).items()}
  key = jax.random.PRNGKey(0)
  params = jax.eval_shape(init, key, example)
  forward = af2_presets.make_forward(config)
  predictions = jax.eval_shape(lambda p: forward.apply(p, key, example, 1, True), params)
  loss = jax.eval_shape(lambda p: loss_fn(p, example, key, jnp.int32(1)), params)
  return predictions, loss


@pytest.mark.parametrize('name', MONOMER)
def test_every_preset_loss_runs_on_its_outputs(name):
  config = model_config(name, **SMALL)
  predictions, (loss, metrics) = _trace_loss(config)
  assert loss.shape == () and loss.dtype == jnp.float32
  w = config.losses
  heads = {'predicted_aligned_error': (w.pae_weight, 'pae_loss'),
           'masked_msa': (w.masked_msa_weight, 'masked_msa_loss'),
           'experimentally_resolved': (w.experimentally_resolved_weight,
                                       'experimentally_resolved_loss')}
  for head, (weight, metric) in heads.items():  # a head exists exactly when its loss is on
    assert (head in predictions) == bool(weight), (name, head)
    assert (metric in metrics) == bool(weight), (name, head)
  assert config.has_pae_head == (name.endswith('_ptm') or name in ('tiny', 'nano_ipa'))


def test_head_bins_are_the_loss_bins():
  config = model_config('model_3_ptm', **SMALL, **{'heads.distogram.num_bins': 17,
                                                   'heads.predicted_aligned_error.num_bins': 13})
  predictions, (loss, _) = _trace_loss(config)
  assert predictions['distogram']['logits'].shape[-1] == 17
  assert predictions['distogram']['bin_edges'].shape == (16,)
  assert predictions['predicted_aligned_error']['logits'].shape[-1] == 13
  assert loss.shape == ()
  # No bin count is stored twice: the loss config has none, the loss reads the head's edges.
  assert not [f.name for f in dataclasses.fields(LossConfig) if 'bins' in f.name
              or 'break' in f.name or 'num_classes' in f.name]
  n, b = 5, 17
  rng = np.random.default_rng(0)
  edges = jnp.linspace(2., 20., b - 1)
  batch = {'pseudo_beta': jnp.asarray(rng.normal(size=(n, 3)) * 8, jnp.float32),
           'pseudo_beta_mask': jnp.ones(n)}
  logits = jnp.asarray(rng.normal(size=(n, n, b)), jnp.float32)
  value, _ = distogram_loss({'distogram': {'logits': logits, 'bin_edges': edges}}, batch)
  shifted, _ = distogram_loss({'distogram': {'logits': logits, 'bin_edges': edges + 3.}}, batch)
  assert np.isfinite(float(value)) and float(value) != float(shifted)  # the edges given are used
  with pytest.raises(ValueError, match='len\\(bin_edges\\) \\+ 1'):
    distogram_loss({'distogram': {'logits': logits, 'bin_edges': edges[:-2]}}, batch)
