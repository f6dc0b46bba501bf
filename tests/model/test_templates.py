"""Template embedding (pair stack, point-wise attention, template rows) vs the AF2 oracle.

What is compared: the oracle's `EmbeddingsAndEvoformer` (model_1_ptm widths, fp32, unfused
triangle multiplication = the official monomer layout, templates on) with its Evoformer and
extra-MSA iterations intercepted as identity maps. Its output 'pair' is then input embedding
+ recycling + relpos + template embedding; the outputs of its `template_embedding` module and
`template_projection` layer are captured. Ours: `embed_inputs` + `embed_recycling` +
`TemplateEmbedding` + `embed_template_single` inside a module named 'evoformer', SAME params.
Templates: 3 fragments of ubiquitin (1UBQ) with missing atoms, the third masked out
(template_mask = 0, junk coordinates); residues 8..10 are padding.
"""

import dataclasses
import functools

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.geometry import torsions as geometry_torsions
from alphafold_jax.common import protein as protein_lib
from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.model import embedders
from alphafold_jax.model import templates
from alphafold_jax.model.attention import AttentionConfig
from alphafold_jax.model.transition import TransitionConfig
from alphafold_jax.model.triangle import (ending_node_config, incoming_config, outgoing_config,
                                          starting_node_config)

from tests.model.test_embedders import N_REAL, N_RES, make_batch
from tests.oracle import requires_oracle
from tests.random_params import STACKED_SCOPES, random_params

pytestmark = requires_oracle

TOL = 1e-4


def template_batch(data_dir, num_templ=3, n_res=N_RES, n_real=N_REAL, seed=0):
  prot = protein_lib.from_file(data_dir / 'structures' / 'nano' / '1UBQ.pdb')
  rng = np.random.default_rng(seed)
  aatype = np.full((num_templ, n_res), 21)  # gap
  pos = np.zeros((num_templ, n_res, 37, 3), np.float32)
  mask = np.zeros((num_templ, n_res, 37), np.float32)
  for t in range(num_templ):
    start = 7 * t + 3
    aatype[t, :n_real] = prot.aatype[start:start + n_real]
    pos[t, :n_real] = prot.atom_positions[start:start + n_real]
    mask[t, :n_real] = prot.atom_mask[start:start + n_real]
    mask[t, rng.integers(1, n_real)] = 0.0  # a missing residue
    mask[t, rng.integers(n_real), 5:] = 0.0  # a residue without side chain
  pos *= mask[..., None]
  template_mask = np.ones(num_templ, np.float32)
  template_mask[-1] = 0.0  # masked-out template with junk coordinates
  pos[-1] = rng.normal(size=pos[-1].shape) * 9
  pb, pb_mask = embedders.pseudo_beta_fn(jnp.asarray(aatype), jnp.asarray(pos), jnp.asarray(mask))
  return {
      'template_aatype': aatype.astype(np.int32), 'template_all_atom_positions': pos,
      'template_all_atom_masks': mask, 'template_pseudo_beta': np.asarray(pb),
      'template_pseudo_beta_mask': np.asarray(pb_mask), 'template_mask': template_mask,
  }


class OurEmbeddingsWithTemplates(hk.Module):
  def __init__(self, global_config, name='evoformer'):
    super().__init__(name=name)
    self.gc = global_config

  def __call__(self, batch):
    msa, pair = embedders.embed_inputs(batch, embedders.InputEmbedderConfig())
    msa_row, pair_update = embedders.embed_recycling(
        batch, batch['aatype'], embedders.RecyclingEmbedderConfig())
    msa = msa.at[0].add(msa_row)
    pair = pair + pair_update
    mask_2d = batch['seq_mask'][:, None] * batch['seq_mask'][None, :]
    templ_batch = {k: v for k, v in batch.items() if k.startswith('template_')}
    templ_pair = templates.TemplateEmbedding(templates.TemplateEmbeddingConfig(), self.gc)(
        pair, templ_batch, mask_2d, is_training=False)
    pair = pair + templ_pair
    extra = embedders.embed_extra_msa(batch, embedders.ExtraMsaEmbedderConfig())
    rows, row_mask = templates.embed_template_single(templ_batch, 256, self.gc)
    return {'msa': msa, 'pair': pair, 'extra': extra, 'template_pair': templ_pair,
            'template_rows': rows, 'template_row_mask': row_mask}


def _ours(gc):
  return hk.transform(lambda b: OurEmbeddingsWithTemplates(gc)(b))



def _oracle(zero_init):
  from alphafold.model import config as oracle_config
  from alphafold.model import modules
  cfg = oracle_config.model_config('model_1_ptm')
  gc = cfg.model.global_config
  gc.bfloat16 = False
  gc.zero_init = zero_init
  ev = cfg.model.embeddings_and_evoformer
  ev.evoformer_num_block = 1
  ev.extra_msa_stack_num_block = 1
  for k in ('triangle_multiplication_outgoing', 'triangle_multiplication_incoming'):
    ev.template.template_pair_stack[k].fuse_projection_weights = False

  def fwd(batch):
    captured = {}

    def interceptor(next_f, args, kwargs, context):
      if isinstance(context.module, modules.EvoformerIteration) and context.method_name == '__call__':
        return kwargs['activations']
      out = next_f(*args, **kwargs)
      if context.method_name == '__call__':
        name = context.module.module_name
        if name.endswith('evoformer/template_embedding'):
          captured['template_pair'] = out
        elif name.endswith('template_projection'):
          captured['template_rows'] = out
      return out

    with hk.intercept_methods(interceptor):
      out = modules.EmbeddingsAndEvoformer(ev, gc)(batch, is_training=False)
    return dict(captured, msa=out['msa'], pair=out['pair'])

  return hk.transform(fwd)


@pytest.fixture(scope='module')
def batch(data_dir):
  return dict(make_batch(seed=11), **template_batch(data_dir))


def test_template_embedding_matches_oracle(batch):
  # zero_init=False makes AF2 put the (1, 0) placeholder into masked torsions: with
  # zero_init=True the oracle's N-terminal pre-omega (and the one after a missing residue) is
  # float noise (see geometry/torsions.torsion_sin_cos); test_template_features compares the
  # un-replaced torsions at every well-posed entry.
  oracle = _oracle(zero_init=False)
  key = jax.random.PRNGKey(0)
  params = random_params(jax.eval_shape(oracle.init, key, batch), seed=7, stacked=STACKED_SCOPES)
  ref = jax.jit(oracle.apply)(params, key, batch)
  gc = GlobalConfig(deterministic=True, zero_init=False, subbatch_size=4)
  ours = _ours(gc)
  names = lambda p: {f'{m}/{n}': p[m][n].shape for m in p for n in p[m]}
  ref_names = names(params)
  ref_names.pop('evoformer/single_activations/weights')
  ref_names.pop('evoformer/single_activations/bias')
  assert names(jax.eval_shape(ours.init, key, batch)) == ref_names
  out = jax.jit(ours.apply)(params, key, batch)
  diffs = {}
  for k in ('template_pair', 'template_rows', 'pair', 'msa'):
    assert out[k].shape == ref[k].shape, k
    diffs[k] = float(jnp.abs(out[k] - ref[k]).max())
    assert float(jnp.abs(ref[k]).max()) > 0.1, k
  print('max |delta| vs oracle:', diffs)
  assert max(diffs.values()) <= TOL, diffs


SMALL = templates.TemplateEmbeddingConfig(
    template_channel=8,
    attention=AttentionConfig(num_head=2, key_dim=6, value_dim=10, gating=False),
    template_pair_stack=templates.TemplatePairStackConfig(
        triangle_attention_starting_node=starting_node_config(
            num_head=2, key_dim=6, value_dim=6),
        triangle_attention_ending_node=ending_node_config(
            num_head=3, key_dim=9, value_dim=9),
        triangle_multiplication_outgoing=outgoing_config(num_intermediate_channel=5),
        triangle_multiplication_incoming=incoming_config(num_intermediate_channel=7),
        pair_transition=TransitionConfig(num_intermediate_factor=2)))
C_Z, C_M = 13, 11


def _small_model(gc, config=SMALL):
  def fwd(query, templ_batch, mask_2d):
    with hk.experimental.name_scope('evoformer'):
      pair = templates.TemplateEmbedding(config, gc)(query, templ_batch, mask_2d)
      rows, row_mask = templates.embed_template_single(templ_batch, C_M, gc)
    return {'template_pair': pair, 'template_rows': rows, 'template_row_mask': row_mask}
  return hk.transform(fwd)


def _small_inputs(batch, n_res, num_templ):
  rng = np.random.default_rng(2)
  query = rng.normal(size=(N_RES, N_RES, C_Z)).astype(np.float32)
  seq_mask = np.asarray(batch['seq_mask'])
  mask_2d = seq_mask[:, None] * seq_mask[None, :]
  templ = {k: np.asarray(v)[:num_templ, :n_res] if k != 'template_mask' else
           np.asarray(v)[:num_templ] for k, v in batch.items() if k.startswith('template_')}
  return query[:n_res, :n_res], templ, mask_2d[:n_res, :n_res]


def test_padding_masked_template_and_chunking(batch):
  """Padded residues and the masked-out template change nothing at real positions. The padded
  run is chunked (subbatch 4; 121 query rows -> a ragged last chunk), the unpadded one not, so
  this also checks chunked == unchunked."""
  key = jax.random.PRNGKey(0)
  chunked = _small_model(GlobalConfig(deterministic=True, zero_init=False, subbatch_size=4))
  plain = _small_model(GlobalConfig(deterministic=True, zero_init=False, subbatch_size=None))
  full_in = _small_inputs(batch, N_RES, 3)
  params = random_params(jax.eval_shape(chunked.init, key, *full_in), seed=4,
                         stacked=STACKED_SCOPES)
  full = jax.jit(chunked.apply)(params, key, *full_in)
  part = jax.jit(plain.apply)(params, key, *_small_inputs(batch, N_REAL, 2))
  d_pair = float(jnp.abs(full['template_pair'][:N_REAL, :N_REAL] - part['template_pair']).max())
  d_rows = float(jnp.abs(full['template_rows'][:2, :N_REAL] - part['template_rows']).max())
  assert d_pair <= 1e-5 and d_rows <= 1e-5, (d_pair, d_rows)
  assert float(jnp.abs(part['template_pair']).max()) > 0.1


def test_no_templates_gives_zero_and_finite_gradients(batch):
  """Gradients through features, embedding, point-wise attention and template rows. The pair
  stack is left out here (num_block=0: its backward pass triples the compile time); its blocks'
  and the scanned stack's gradients are tested with the trunk (tests/model, tests/ops)."""
  gc = GlobalConfig(deterministic=True, zero_init=True, subbatch_size=None)
  no_stack = dataclasses.replace(
      SMALL, template_pair_stack=dataclasses.replace(SMALL.template_pair_stack, num_block=0))
  model = _small_model(gc, no_stack)
  key = jax.random.PRNGKey(1)
  query, templ, mask_2d = _small_inputs(batch, N_RES, 3)
  params = random_params(jax.eval_shape(model.init, key, query, templ, mask_2d), seed=5,
                         stacked=STACKED_SCOPES)

  @jax.jit
  @functools.partial(jax.value_and_grad, argnums=(0, 1, 2), has_aux=True)
  def loss(p, q, positions, template_mask):
    out = model.apply(p, None, q, dict(templ, template_all_atom_positions=positions,
                                       template_mask=template_mask), mask_2d)
    value = jnp.sum(jnp.sin(out['template_pair'])) + jnp.sum(jnp.sin(out['template_rows']))
    return value, out['template_pair']

  for template_mask in (np.zeros(3, np.float32), templ['template_mask']):
    (_, pair), grads = loss(params, query, templ['template_all_atom_positions'], template_mask)
    leaves = jax.tree_util.tree_leaves(grads)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    embed_w = grads[0]['evoformer/template_embedding/single_template_embedding/embedding2d']
    if template_mask.sum() == 0:
      assert not np.any(np.asarray(pair))  # no templates -> no update, no gradient into them
      assert not np.any(np.asarray(embed_w['weights'])) and not np.any(np.asarray(grads[1]))
    else:
      assert float(jnp.abs(embed_w['weights']).max()) > 0
      assert float(jnp.abs(grads[2]).max()) > 0  # template atoms -> torsions -> rows


def test_zero_init_switches_torsion_placeholder(batch):
  query, templ, mask_2d = _small_inputs(batch, N_RES, 3)
  key = jax.random.PRNGKey(3)
  rows = {}
  for zero_init in (True, False):
    f = hk.transform(lambda t: templates.embed_template_single(
        t, C_M, GlobalConfig(zero_init=zero_init)))
    params = random_params(jax.eval_shape(f.init, key, templ), seed=6, stacked=STACKED_SCOPES)
    rows[zero_init], row_mask = jax.jit(f.apply)(params, key, templ)
  tors = geometry_torsions.atom37_to_torsion_angles(
      templ['template_aatype'], templ['template_all_atom_positions'],
      templ['template_all_atom_masks'])
  all_defined = np.asarray(tors['torsion_angles_mask']).min(-1) > 0  # [T, N]
  d = np.abs(np.asarray(rows[True]) - np.asarray(rows[False])).max(-1)
  assert d[all_defined].max() == 0.0 and d[~all_defined].max() > 1e-3
  np.testing.assert_array_equal(row_mask, tors['torsion_angles_mask'][..., 2])


def test_missing_template_feature_is_a_clear_error(batch):
  model = _small_model(GlobalConfig(deterministic=True))
  query, templ, mask_2d = _small_inputs(batch, N_RES, 3)
  del templ['template_pseudo_beta']
  with pytest.raises(ValueError, match='template_pseudo_beta'):
    jax.eval_shape(model.init, jax.random.PRNGKey(0), query, templ, mask_2d)
