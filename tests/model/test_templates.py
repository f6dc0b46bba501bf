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

import functools

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.config.global_config import GlobalConfig
from alphafold_jax.model import embedders
from alphafold_jax.model import templates

from tests.model.test_embedders import N_REAL, N_RES, _perturb, make_batch

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


@pytest.fixture(scope='module')
def oracle_run(batch):
  # zero_init=False makes AF2 put the (1, 0) placeholder in masked torsions: the oracle's
  # N-terminal pre-omega is otherwise float noise (see template_features.torsion_sin_cos).
  oracle = _oracle(zero_init=False)
  key = jax.random.PRNGKey(0)
  params = _perturb(jax.jit(oracle.init)(key, batch), seed=7)
  return params, jax.jit(oracle.apply)(params, key, batch)


def test_template_embedding_matches_oracle(batch, oracle_run):
  params, ref = oracle_run
  gc = GlobalConfig(deterministic=True, zero_init=False, subbatch_size=4)
  ours = _ours(gc)
  key = jax.random.PRNGKey(0)
  our_params = jax.jit(ours.init)(key, batch)
  names = lambda p: {f'{m}/{n}': p[m][n].shape for m in p for n in p[m]}
  ref_names = names(params)
  ref_names.pop('evoformer/single_activations/weights')
  ref_names.pop('evoformer/single_activations/bias')
  assert names(our_params) == ref_names
  out = jax.jit(ours.apply)(params, key, batch)
  diffs = {}
  for k in ('template_pair', 'template_rows', 'pair', 'msa'):
    assert out[k].shape == ref[k].shape, k
    diffs[k] = float(jnp.abs(out[k] - ref[k]).max())
    assert float(jnp.abs(ref[k]).max()) > 0.1, k
  assert max(diffs.values()) <= TOL, diffs


def test_template_rows_with_zero_init_match_oracle_except_degenerate(batch):
  """zero_init=True (AF2 inference default): masked torsions are not replaced; AF2's noisy
  residue-0 pre-omega (and the one after the missing residue) only changes those rows."""
  oracle = _oracle(zero_init=True)
  key = jax.random.PRNGKey(1)
  small = {k: v for k, v in batch.items()}
  params = _perturb(jax.jit(oracle.init)(key, small), seed=8)
  ref = jax.jit(oracle.apply)(params, key, small)
  gc = GlobalConfig(deterministic=True, zero_init=True, subbatch_size=4)
  out = jax.jit(_ours(gc).apply)(params, key, small)
  tors = templates.template_features.atom37_to_torsion_angles(
      small['template_aatype'], small['template_all_atom_positions'],
      small['template_all_atom_masks'])
  prev_missing = np.concatenate([np.ones_like(tors['torsion_angles_mask'][:, :1, 0]),
                                 1 - np.asarray(small['template_all_atom_masks'][:, :-1, 2])], 1)
  clean = prev_missing == 0  # [T, N] rows whose pre-omega frame is well posed in AF2
  d = np.abs(np.asarray(out['template_rows']) - np.asarray(ref['template_rows'])).max(-1)
  assert clean.sum() >= 12 and d[clean].max() <= TOL, d[clean].max()
  assert float(jnp.abs(out['template_pair'] - ref['template_pair']).max()) <= TOL


def _run_ours(batch, gc, params=None, seed=3):
  model = _ours(gc)
  key = jax.random.PRNGKey(0)
  if params is None:
    params = _perturb(jax.jit(model.init)(key, batch), seed=seed)
  return params, jax.jit(model.apply)(params, key, batch)


def test_padding_extra_templates_and_chunking(batch):
  gc = GlobalConfig(deterministic=True, zero_init=False, subbatch_size=None)
  params, full = _run_ours(batch, gc)
  # Drop the padded residues: real positions unchanged.
  small = {}
  for k, v in batch.items():
    v = np.asarray(v)
    if k in ('prev_pair',):
      small[k] = v[:N_REAL, :N_REAL]
    elif k.startswith('template_') and k != 'template_mask' or k in (
        'msa_feat', 'msa_mask', 'extra_msa', 'extra_has_deletion', 'extra_deletion_value',
        'extra_msa_mask'):
      small[k] = v[:, :N_REAL]
    else:
      small[k] = v[:N_REAL] if v.ndim >= 1 and v.shape[0] == N_RES else v
  _, part = _run_ours(small, gc, params)
  for k in ('template_pair', 'pair'):
    d = float(jnp.abs(full[k][:N_REAL, :N_REAL] - part[k]).max())
    assert d <= 1e-5, (k, d)
  d = float(jnp.abs(full['template_rows'][:, :N_REAL] - part['template_rows']).max())
  assert d <= 1e-5, d
  # Dropping the masked-out template changes nothing.
  fewer = {k: (v[:2] if k.startswith('template_') else v) for k, v in batch.items()}
  _, two = _run_ours(fewer, gc, params)
  d = float(jnp.abs(full['template_pair'] - two['template_pair']).max())
  assert d <= 1e-5, d
  # Chunked point-wise attention / trunk modules == unchunked.
  _, chunked = _run_ours(batch, GlobalConfig(deterministic=True, zero_init=False, subbatch_size=4),
                         params)
  d = float(jnp.abs(full['template_pair'] - chunked['template_pair']).max())
  assert d <= 1e-5, d


def test_no_templates_gives_zero_and_finite_gradients(batch):
  gc = GlobalConfig(deterministic=True, zero_init=False, subbatch_size=None)
  none = dict(batch, template_mask=np.zeros_like(batch['template_mask']))
  params, out = _run_ours(none, gc)
  assert not np.any(np.asarray(out['template_pair']))
  model = _ours(gc)

  def loss(p, positions):
    o = model.apply(p, None, dict(batch, template_all_atom_positions=positions))
    return jnp.sum(jnp.sin(o['template_pair'])) + jnp.sum(jnp.sin(o['template_rows']))

  gp, gx = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, batch['template_all_atom_positions'])
  leaves = jax.tree_util.tree_leaves(gp) + [gx]
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
  pair_stack = gp['evoformer/template_embedding/single_template_embedding/embedding2d']['weights']
  assert float(jnp.abs(pair_stack).max()) > 0


def test_missing_template_feature_is_a_clear_error(batch):
  gc = GlobalConfig(deterministic=True)
  bad = {k: v for k, v in batch.items() if k != 'template_pseudo_beta'}
  with pytest.raises(ValueError, match='template_pseudo_beta'):
    _ours(gc).init(jax.random.PRNGKey(0), bad)
