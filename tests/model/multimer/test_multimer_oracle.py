"""Whole AF2-Multimer model vs the oracle (`alphafold.model.modules_multimer.AlphaFold`).

Parameters: made by the oracle's own Haiku init of its multimer `AlphaFold` (its initialisers,
shapes and rng stream, evaluated without the forward pass: `tests.random_params.
init_without_forward`), every leaf + N(0, PARAM_NOISE^2) so no zero-initialised layer hides a
bug (as tests/model/test_alphafold_oracle.py for the monomer), saved in DeepMind's npz layout,
loaded through `load_alphafold_params` with the shapes our model expects. Measured (2 CPU cores,
the tests' XLA flags): max |d pos| 9.2e-5 / 1.1e-4 A (hetero / homo), pLDDT 1.5e-5 / 2.3e-5,
ipTM 8.9e-8 / 1.5e-8. Features: the ORACLE's multimer pipeline (its parsers, monomer
feature builders, `pipeline_multimer.convert_monomer_features` / `add_assembly_features`,
`feature_processing.pair_and_merge`, `pad_msa`) on
  * a heterodimer: the `af2_pipeline_example` query (73 res, its MSAs; BFD/Uniclust rows carry
    UniProt species) + xylanase 6KWC restricted to its first 17 columns (its BFD A3M; 5 shared
    species, so rows really pair), one template on chain A (1POH coordinates);
  * a homodimer: two copies of EGF 1A3P (45 res, its BFD A3M), no templates.
Both have 90 residues, 512 MSA rows and 4 template slots, so one compilation per side serves
both.
Real widths, 1 Evoformer / extra-MSA / template block, 2 structure-module layers, 16 MSA
clusters and 24 extra rows, one recycle (two cycles). The oracle runs one network call per
cycle with float32 `prev` and the cycle key fold_in(K, r) (our key schedule, passed as its
`safe_key`); ours runs both cycles in one jitted call. fp32.
"""

import pathlib

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from tests.oracle import oracle_import, requires_oracle

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common import residue_constants as rc
from alphafold_jax.config import model_config
from alphafold_jax.model import RunModel
from alphafold_jax.params import load_alphafold_params, save_alphafold_params
from tests.random_params import init_without_forward, perturbed

oracle_config = oracle_import('alphafold.model.config')
from alphafold.data import feature_processing  # noqa: E402
from alphafold.data import parsers as oparsers  # noqa: E402
from alphafold.data import pipeline as opipeline  # noqa: E402
from alphafold.data import pipeline_multimer as opm  # noqa: E402
from alphafold.model import modules_multimer  # noqa: E402

pytestmark = requires_oracle


DATA = pathlib.Path(__file__).resolve().parents[2] / 'data'
PARAM_NOISE = 0.01  # added to every oracle-initialised leaf (the monomer test's value)
NUM_RECYCLE = 1
SIZES = dict(evoformer_num_block=1, extra_msa_stack_num_block=1, template_pair_stack_num_block=1,
             num_msa=16, num_extra_msa=24, structure_module_num_layer=2)


def _oracle_cfg():
  cfg = oracle_config.model_config('model_1_multimer_v3')
  m = cfg.model
  gc = m.global_config
  gc.bfloat16 = False
  gc.deterministic = True
  gc.subbatch_size = 100000
  gc.zero_init = False
  e = m.embeddings_and_evoformer
  e.evoformer_num_block = SIZES['evoformer_num_block']
  e.extra_msa_stack_num_block = SIZES['extra_msa_stack_num_block']
  e.template.template_pair_stack.num_block = SIZES['template_pair_stack_num_block']
  e.num_msa, e.num_extra_msa = SIZES['num_msa'], SIZES['num_extra_msa']
  m.heads.structure_module.num_layer = SIZES['structure_module_num_layer']
  m.calc_extended_ptm = False
  m.use_probs_extended = False
  return m


def _a3m(path, columns=None, rows=60):
  msa = oparsers.parse_a3m((DATA / 'msa' / path).read_text()).truncate(rows)
  if columns:
    msa = oparsers.Msa([s[:columns] for s in msa.sequences],
                       [d[:columns] for d in msa.deletion_matrix], msa.descriptions)
  return msa


def _template(seq_len):
  prot = protein_lib.from_file(DATA / 'structures' / 'extra' / '1POH.pdb')
  hh = np.argsort(np.array(rc.MAP_HHBLITS_AATYPE_TO_OUR_AATYPE)[:21])  # our id -> HHblits id
  aatype = np.eye(22, dtype=np.float32)[hh[prot.aatype[:seq_len]]][None]
  return {'template_aatype': aatype,
          'template_all_atom_positions': prot.atom_positions[None, :seq_len].astype(np.float32),
          'template_all_atom_masks': prot.atom_mask[None, :seq_len].astype(np.float32)}


def _no_template(seq_len):
  return {'template_aatype': np.zeros((0, seq_len, 22), np.float32),
          'template_all_atom_positions': np.zeros((0, seq_len, 37, 3), np.float32),
          'template_all_atom_masks': np.zeros((0, seq_len, 37), np.float32)}


def _chain(msas, pairing_msa, template_fn):
  seq = msas[0].sequences[0]
  feats = {**opipeline.make_sequence_features(seq, 'chain', len(seq)),
           **opipeline.make_msa_features(msas), **template_fn(len(seq))}
  if pairing_msa is not None:
    pair = opipeline.make_msa_features([pairing_msa])
    feats.update({f'{k}_all_seq': v for k, v in pair.items()
                  if k in ('msa', 'deletion_matrix_int', 'msa_species_identifiers')})
  return feats


def oracle_features(kind):
  """The oracle pipeline_multimer's example (after its searches) for a test complex."""
  if kind == 'heterodimer':
    a_bfd = _a3m('af2_pipeline_example/bfd_uniclust_hits.a3m')
    a_uniref = oparsers.parse_stockholm(
        (DATA / 'msa/af2_pipeline_example/uniref90_hits.sto').read_text()).truncate(30)
    b_bfd = _a3m('xylanase_6KWC_1/bfd_uniref_hits.a3m', columns=17)
    chains = {'A': _chain([a_uniref, a_bfd], a_bfd, _template),
              'B': _chain([b_bfd], b_bfd, _no_template)}
  else:
    c = _chain([_a3m('egf_1A3P_A/bfd_uniclust_hits.a3m')], None, _no_template)
    chains = {'A': c, 'B': {k: np.copy(v) for k, v in c.items()}}
  converted = {cid: opm.convert_monomer_features(f, chain_id=cid) for cid, f in chains.items()}
  example = feature_processing.pair_and_merge(opm.add_assembly_features(converted))
  return opm.pad_msa(example, 512)


def _initial_prev(n):
  return {'prev_msa_first_row': jnp.zeros((n, 256)), 'prev_pair': jnp.zeros((n, n, 128)),
          'prev_pos': jnp.zeros((n, 37, 3))}


def _oracle_model_and_params(cfg, feats, seed):
  def fwd(batch, safe_key):
    return modules_multimer.AlphaFold(cfg)(batch, is_training=False, safe_key=safe_key)

  transformed = hk.transform(fwd)
  batch = jax.tree_util.tree_map(jnp.asarray, {**feats, 'prev': _initial_prev(
      feats['aatype'].shape[0])})
  params = init_without_forward(transformed.init, jax.random.PRNGKey(seed), batch,
                                jax.random.PRNGKey(0))
  return transformed, perturbed(params, seed + 1, PARAM_NOISE)


def _our_base_key(seed):
  """The first hk.next_rng_key() of an apply with PRNGKey(seed): our recycle-key base."""
  return hk.transform(lambda: hk.next_rng_key()).apply(None, jax.random.PRNGKey(seed))


def test_whole_multimer_model_matches_oracle(tmp_path):
  """Heterodimer and homodimer (same shapes: one compile per side for both)."""
  cases = {kind: oracle_features(kind) for kind in ('heterodimer', 'homodimer')}
  shapes = {k: jax.tree_util.tree_map(np.shape, f) for k, f in cases.items()}
  assert shapes['heterodimer'] == shapes['homodimer'], shapes
  cfg = _oracle_cfg()
  transformed, oracle_params = _oracle_model_and_params(cfg, cases['homodimer'], seed=11)
  path = tmp_path / 'params_model_1_multimer_v3.npz'
  save_alphafold_params(oracle_params, path)
  ours_cfg = model_config('model_1_multimer_v3', num_recycle=NUM_RECYCLE, subbatch_size=None,
                          deterministic=True, zero_init=False, recycle_early_stop_tolerance=0.0,
                          **SIZES)
  model = RunModel(ours_cfg)
  model.params = load_alphafold_params(path, expected=model.param_shapes(cases['homodimer']))
  apply = jax.jit(transformed.apply)
  seed = 5
  base = _our_base_key(seed)
  failures = []
  for kind, feats in cases.items():
    assert len(np.unique(feats['asym_id'])) == 2
    if kind == 'heterodimer':
      assert np.sum(feats['cluster_bias_mask']) == 1  # paired rows block
    ours = model.predict(feats, random_seed=seed)
    batch = jax.tree_util.tree_map(jnp.asarray, feats)
    prev = _initial_prev(feats['aatype'].shape[0])
    for r in range(NUM_RECYCLE + 1):
      ret = apply(oracle_params, jax.random.PRNGKey(0), {**batch, 'prev': prev},
                  jax.random.fold_in(base, r))
      if r == 0:
        first_cycle_pos = np.asarray(ret['structure_module']['final_atom_positions'])
      prev = ret['prev']
    theirs = jax.tree_util.tree_map(np.asarray, ret)
    mask = ours['final_atom_mask'][..., None] > 0
    pos_t = theirs['structure_module']['final_atom_positions']
    d_pos = float(np.max(np.where(mask, np.abs(ours['final_atom_positions'] - pos_t), 0)))
    d_recycle = float(np.max(np.where(mask, np.abs(first_cycle_pos - pos_t), 0)))
    d_plddt = float(np.max(np.abs(ours['plddt'] - theirs['plddt'])))
    d_iptm = abs(float(ours['iptm']) - float(theirs['iptm']))
    d_ptm = abs(float(ours['ptm']) - float(theirs['ptm']))
    print(f'{kind} (N={feats["aatype"].shape[0]}): max|d pos|={d_pos:.2e} A, '
          f'max|d plddt|={d_plddt:.2e}, |d iptm|={d_iptm:.1e} (iptm '
          f'{float(ours["iptm"]):.4f}), |d ptm|={d_ptm:.1e}; one cycle fewer moves atoms by '
          f'{d_recycle:.1f} A')
    checks = {'num_recycles': int(ours['num_recycles']) == NUM_RECYCLE,
              'distinct cycles': d_recycle > 1e-2, 'pos <= 1e-3': d_pos <= 1e-3,
              'plddt <= 1e-2': d_plddt <= 1e-2, 'iptm <= 1e-4': d_iptm <= 1e-4,
              'ptm <= 1e-4': d_ptm <= 1e-4}
    failures += [f'{kind}: {k}' for k, ok in checks.items() if not ok]
  assert not failures, failures
