"""RunModel: the public face of the AF2 model (features in, AF2 output keys out).

  model = RunModel(model_config('model_1_ptm'), params)
  feats = model.process_features(raw_features, random_seed=0)   # NumPy, AF2 processed keys
  out = model.predict(feats, random_seed=0)                       # one jitted call, all cycles

`predict` accepts processed features from AF2's/ColabFold's own pipeline unchanged (leading
ensemble axis, AF2 key names). Outputs (NumPy): final_atom_positions [N, 37, 3],
final_atom_mask [N, 37], plddt [N] (0-100), distogram {logits, bin_edges}, and for models with
the PAE head predicted_aligned_error [N, N], max_predicted_aligned_error, ptm; plus
num_recycles (cycles actually run) and structure_module / heads raw outputs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.model.alphafold import AlphaFold, ModelConfig, confidence_outputs
from alphafold_jax.model.multimer import alphafold as multimer_alphafold
from alphafold_jax.ops import sharding_rules

# Keys of AF2 processed features the model reads; anything else in a feature dict
# (labels, raw strings) is dropped before the jitted call.
MODEL_FEATURES = (
    'aatype', 'residue_index', 'seq_mask', 'target_feat', 'msa_feat', 'msa_mask',
    'extra_msa', 'extra_msa_mask', 'extra_has_deletion', 'extra_deletion_value',
    'template_aatype', 'template_all_atom_positions', 'template_all_atom_masks',
    'template_pseudo_beta', 'template_pseudo_beta_mask', 'template_mask', 'asym_id')
# AF2-Multimer features (one complex, no ensemble axis; the MSA is sampled in the model).
MULTIMER_FEATURES = (
    'aatype', 'residue_index', 'seq_mask', 'msa', 'deletion_matrix', 'msa_mask', 'bert_mask',
    'cluster_bias_mask', 'asym_id', 'entity_id', 'sym_id', 'template_aatype',
    'template_all_atom_positions', 'template_all_atom_mask')


def model_inputs(features: Mapping[str, Any], multimer: bool = False) -> dict:
  """The model's input arrays from a processed feature dict (AF2 dtypes kept)."""
  keys = MULTIMER_FEATURES if multimer else MODEL_FEATURES
  return {k: np.asarray(v) for k, v in features.items() if k in keys}


def forward_fn(config: ModelConfig):
  """hk.transform-able forward: (batch, is_training, num_recycle) -> raw outputs + confidences."""
  multimer = getattr(config, 'multimer', False)

  def forward(batch, is_training=False, num_recycle=None):
    if multimer:
      ret = multimer_alphafold.AlphaFold(config)(batch, is_training=is_training,
                                                 num_recycle=num_recycle)
      confidences = multimer_alphafold.multimer_confidence_outputs(ret, batch)
    else:
      ret = AlphaFold(config)(batch, is_training=is_training, num_recycle=num_recycle)
      confidences = confidence_outputs(ret, batch['seq_mask'][0].astype(jnp.float32))
    if 'predicted_aligned_error' in ret:  # the head's {logits, breaks} keep their own key
      ret['predicted_aligned_error_head'] = ret.pop('predicted_aligned_error')
    ret.update(confidences)
    return ret

  return forward


class RunModel:
  """Features -> predictions with one compiled function per input shape."""

  def __init__(self, config: ModelConfig, params: Optional[Mapping] = None,
               num_devices: Optional[int] = None):
    """num_devices > 1: one prediction split over that many devices along the residue axis
    (ops/sharding_rules.py; padded lengths should be divisible by it)."""
    self.mesh = None
    if num_devices is not None and num_devices > 1:
      self.mesh = sharding_rules.residue_mesh(num_devices)
      config = dataclasses.replace(
          config, global_config=sharding_rules.with_residue_split(config.global_config))
    self.config = config
    self.params = params
    self.multimer = bool(getattr(config, 'multimer', False))
    self.transformed = hk.transform(forward_fn(config))
    self._init = jax.jit(lambda k, b: self.transformed.init(k, b, False))
    # num_recycle is traced: one compiled function serves every recycle count
    self._apply = jax.jit(lambda p, k, b, n: self.transformed.apply(p, k, b, False, n))

  def init_params(self, features: Mapping[str, Any], random_seed: int = 0) -> Mapping:
    """Random parameters (AF2 initialisers) for the shapes of `features`."""
    batch = model_inputs(features, self.multimer)
    self.params = self._init(jax.random.PRNGKey(random_seed), batch)
    return self.params

  def param_shapes(self, features: Mapping[str, Any]) -> Mapping:
    """The parameter tree the model expects (ShapeDtypeStructs), e.g. to check a params file."""
    batch = model_inputs(features, self.multimer)
    return jax.eval_shape(self._init, jax.random.PRNGKey(0), batch)

  def process_features(self, raw_features: Mapping[str, np.ndarray],
                       random_seed: int = 0) -> dict:
    """AF2 raw features (`data_pipeline.make_raw_features`) -> processed features.

    The input pipeline is the config's own (`config.data`, a data_pipeline FeatureConfig):
    model code never imports data_pipeline.
    """
    return self.config.data.process(raw_features, random_seed)

  def predict(self, features: Mapping[str, Any], random_seed: int = 0,
              num_recycle: Optional[int] = None, return_representations: bool = False) -> dict:
    """Runs all recycling iterations; returns NumPy outputs with AF2's key names.

    num_recycle: recycles to run (default config.num_recycle); cycle i reads the i-th group of
    config.data.num_ensemble members (the last group when fewer). Changing it does not
    recompile. return_representations: also return the final cycle's trunk representations
    {'single' [N, c_s], 'pair' [N, N, c_z], 'msa' [S, N, c_m], 'msa_first_row' [N, c_m]}.
    """
    if self.params is None:
      raise ValueError('RunModel has no parameters: pass params or call init_params first')
    batch = model_inputs(features, self.multimer)
    if self.multimer and batch['aatype'].ndim != 1:
      raise ValueError('multimer predict expects one complex without an ensemble axis: '
                       f"aatype [N], got shape {batch['aatype'].shape}")
    if not self.multimer and batch['aatype'].ndim != 2:
      raise ValueError('predict expects processed features with a leading ensemble axis: '
                       f"aatype [E, N], got shape {batch['aatype'].shape}")
    if num_recycle is None:
      num_recycle = self.config.num_recycle
    if int(num_recycle) < 0:
      raise ValueError(f'num_recycle must be >= 0, got {num_recycle}')
    with sharding_rules.mesh_context(self.mesh):
      ret = self._apply(self.params, jax.random.PRNGKey(random_seed), batch,
                        np.int32(num_recycle))
    return jax.tree_util.tree_map(np.asarray, _public_outputs(ret, return_representations))


def _public_outputs(ret: dict, return_representations: bool = False) -> dict:
  sm = ret['structure_module']
  out = {
      'final_atom_positions': sm['final_atom_positions'],
      'final_atom_mask': sm['final_atom_mask'],
      'plddt': ret['plddt'],
      'distogram': ret['distogram'],
      'num_recycles': ret['num_recycles'],
      'predicted_lddt': ret['predicted_lddt'],
  }
  if return_representations:
    out['representations'] = ret['representations']
  for key in ('predicted_aligned_error', 'max_predicted_aligned_error', 'ptm', 'iptm',
              'ranking_confidence',
              'aligned_confidence_probs', 'predicted_aligned_error_head',
              'experimentally_resolved', 'masked_msa'):
    if key in ret:
      out[key] = ret[key]
  return out
