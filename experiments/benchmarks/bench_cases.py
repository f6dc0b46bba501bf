"""Benchmark cases for trunk_benchmark.py: ours vs the oracle (alphafold-colabfold) on one shape.

Each case builds a jitted function for ONE implementation ('ours' or 'oracle'), random
parameters with identical values for both (one NumPy stream per (module, name) leaf, so the
same tree gives the same numbers whichever module made it), and random inputs from a fixed
seed. `run_case` compiles it, reads XLA's memory and cost analyses, warms up, times it and
returns a JSON-able record. Runs inside a fresh worker process (see trunk_benchmark.py).

Oracle settings: fp32 (global_config.bfloat16=False), deterministic, the same subbatch_size
as ours, unfused triangle-multiplication weights (AF2 v2.3 monomer layout, our default too),
and for the whole model calc_extended_ptm=False, use_probs_extended=False.
"""

from __future__ import annotations

import dataclasses
import hashlib
import resource
import statistics
import time
import zlib

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

# ----------------------------------------------------------------------------- parameters


def shape_signature(shapes) -> str:
  """Hash of the param tree's names and shapes (equal hash => the same random values)."""
  items = sorted((m, n, tuple(v.shape)) for m, d in shapes.items() for n, v in d.items())
  return hashlib.sha1(repr(items).encode()).hexdigest()[:12]


def random_params(shapes, seed: int):
  """N(0, 1/fan_in) weights, N(0, 0.2^2) biases, 1 + N(0, 0.2^2) LayerNorm scales.

  Stacked blocks (leading [num_block] axis) use the per-block fan-in; structure-module
  affine updates are scaled by 0.1 so the 8 folding steps stay protein-like."""
  out = {}
  for module in sorted(shapes):
    out[module] = {}
    for name in sorted(shapes[module]):
      shape = tuple(shapes[module][name].shape)
      rng = np.random.default_rng([seed, zlib.crc32(f'{module}/{name}'.encode())])
      stacked = any(s in module for s in ('evoformer_iteration', 'extra_msa_stack',
                                          'template_pair_stack'))
      base = shape[1:] if stacked and len(shape) > 1 else shape
      if name == 'output_w' and len(base) == 3:
        scale = 1.0 / np.sqrt(base[0] * base[1])
      elif len(base) > 1:
        scale = 1.0 / np.sqrt(base[0])
      else:
        scale = 0.2
      if module.endswith('affine_update'):
        scale *= 0.1
      x = rng.standard_normal(shape).astype(np.float32) * scale
      if name == 'scale':
        x = 1.0 + x
      out[module][name] = jnp.asarray(x)
  return out


def _normal(seed, shape, scale=1.0):
  # float32 draws: a float64 temporary of an L=2048 pair tensor alone would be 4 GiB.
  return jnp.asarray(scale * np.random.default_rng(seed).standard_normal(shape, np.float32))


# ----------------------------------------------------------------------------- configs


def our_config(subbatch: int, **kw):
  """model_1_ptm with GlobalConfig.subbatch_size = subbatch. The dotted name matters: a bare
  `subbatch_size=` override also sets the template point-wise attention's own chunk (AF2: 128
  rows, which the oracle keeps), so ours would run that attention in 4-row chunks."""
  from alphafold_jax.config import model_config
  return model_config('model_1_ptm', deterministic=True,
                      **{'global_config.subbatch_size': subbatch}, **kw)


def oracle_config(subbatch: int):
  from alphafold.model import config as oracle_cfg
  cfg = oracle_cfg.model_config('model_1_ptm')
  m = cfg.model
  m.global_config.bfloat16 = False
  m.global_config.deterministic = True
  m.global_config.subbatch_size = subbatch
  e = m.embeddings_and_evoformer
  for stack in (e.evoformer, e.template.template_pair_stack):
    for k in ('triangle_multiplication_outgoing', 'triangle_multiplication_incoming'):
      stack[k].fuse_projection_weights = False
  m.calc_extended_ptm = False
  m.use_probs_extended = False
  return cfg


# ----------------------------------------------------------------------------- cases
# Each builder returns (transformed, args, kind) where kind is 'fwd' or 'fwd+bwd'.


# Our memory-policy variants (alphafold_jax/ops/memory_policy.py), same parameter tree as 'ours':
#   ours_auto:   inference chunks sized from a memory budget (`auto_chunking`, 16 MiB per
#                chunk's largest intermediate) instead of subbatch rows;
#   ours_lowmem: the training graph (is_training=True, dropout off) under `low_memory_training`
#                (checkpointed 64 MiB chunks, every sub-layer recomputed in the backward pass).
OUR_VARIANTS = ('ours_auto', 'ours_lowmem')


def our_global_config_variant(cfg, impl, auto_budget_mib=None):
  """auto_budget_mib: the `ours_auto` chunk budget (default: the policy's own)."""
  from alphafold_jax.ops import memory_policy
  if impl == 'ours_auto':
    if auto_budget_mib is None:
      return memory_policy.auto_chunking(cfg.global_config)
    return memory_policy.auto_chunking(cfg.global_config, auto_budget_mib)
  if impl == 'ours_lowmem':
    return memory_policy.low_memory_training(cfg.global_config)
  return cfg.global_config


def evoformer_case(impl, n_seq, n_res, subbatch):
  args = (_normal(1, (n_seq, n_res, 256)), _normal(2, (n_res, n_res, 128)),
          jnp.ones((n_seq, n_res), jnp.float32), jnp.ones((n_res, n_res), jnp.float32))
  if impl.startswith('ours'):
    from alphafold_jax.model.evoformer import EvoformerIteration
    cfg = our_config(subbatch)
    gc = our_global_config_variant(cfg, impl)
    is_training = impl == 'ours_lowmem'

    def fn(msa, pair, msa_mask, pair_mask):
      return EvoformerIteration(cfg.evoformer.evoformer, gc, False, name='evoformer_iteration')(
          msa, pair, msa_mask, pair_mask, is_training)
  else:
    from alphafold.model import modules
    cfg = oracle_config(subbatch).model

    def fn(msa, pair, msa_mask, pair_mask):
      out = modules.EvoformerIteration(cfg.embeddings_and_evoformer.evoformer, cfg.global_config,
                                       is_extra_msa=False, name='evoformer_iteration')(
          {'msa': msa, 'pair': pair}, {'msa': msa_mask, 'pair': pair_mask}, is_training=False)
      return out['msa'], out['pair']
  return hk.transform(fn), args


def _oracle_sm_batch(aatype, seq_mask):
  """The atom-existence features AF2's structure module reads from its batch."""
  from alphafold.common import residue_constants as orc
  table = np.zeros((21, 37), np.int32)  # [restype, atom37] -> atom14 index
  for r, one in enumerate(orc.restypes):
    for a14, name in enumerate(orc.restype_name_to_atom14_names[orc.restype_1to3[one]]):
      if name:
        table[r, orc.atom_order[name]] = a14
  return {'seq_mask': seq_mask, 'aatype': aatype,
          'atom14_atom_exists': jnp.asarray(orc.restype_atom14_mask)[aatype],
          'atom37_atom_exists': jnp.asarray(orc.restype_atom37_mask)[aatype],
          'residx_atom37_to_atom14': jnp.asarray(table)[aatype]}


def structure_case(impl, n_res, subbatch):
  aatype = jnp.asarray(np.random.default_rng(3).integers(0, 20, n_res), jnp.int32)
  args = (_normal(1, (n_res, 384)), _normal(2, (n_res, n_res, 128)), aatype,
          jnp.ones((n_res,), jnp.float32))
  if impl == 'ours':
    from alphafold_jax.model.structure_module import StructureModule
    cfg = our_config(subbatch)

    def fn(single, pair, aatype, seq_mask):
      out = StructureModule(cfg.structure_module, cfg.global_config)(
          single, pair, aatype, seq_mask, is_training=False)
      return out['final_atom_positions']
  else:
    from alphafold.model import folding
    cfg = oracle_config(subbatch).model

    def fn(single, pair, aatype, seq_mask):
      out = folding.StructureModule(cfg.heads.structure_module, cfg.global_config)(
          {'single': single, 'pair': pair}, _oracle_sm_batch(aatype, seq_mask), is_training=False)
      return out['final_atom_positions']
  return hk.transform(fn), args


WHOLE_BLOCKS = dict(evoformer_num_block=2, extra_msa_stack_num_block=1)


def whole_model_case(impl, features, subbatch, auto_budget_mib=None):
  """2 Evoformer + 1 extra-MSA block, 2 template-pair blocks (model_1_ptm), 0 recycles."""
  n_res = features['aatype'].shape[1]
  if impl in ('ours', 'ours_auto'):
    from alphafold_jax.model.run_model import forward_fn, model_inputs
    cfg = our_config(subbatch, num_recycle=0, zero_init=False, **WHOLE_BLOCKS)
    cfg = dataclasses.replace(cfg, global_config=our_global_config_variant(
        cfg, impl, auto_budget_mib))
    batch = {k: jnp.asarray(v) for k, v in model_inputs(features).items()}
    fwd = forward_fn(cfg)

    def fn(batch):
      ret = fwd(batch, False)
      return ret['structure_module']['final_atom_positions'], ret['plddt']
  else:
    from alphafold.model import modules
    cfg = oracle_config(subbatch)
    m = cfg.model
    m.global_config.zero_init = False
    m.embeddings_and_evoformer.evoformer_num_block = WHOLE_BLOCKS['evoformer_num_block']
    m.embeddings_and_evoformer.extra_msa_stack_num_block = WHOLE_BLOCKS['extra_msa_stack_num_block']
    m.num_recycle = 0
    batch = {k: jnp.asarray(v) for k, v in features.items()}
    batch['prev'] = {'prev_msa_first_row': jnp.zeros((n_res, 256)),
                     'prev_pair': jnp.zeros((n_res, n_res, 128)),
                     'prev_pos': jnp.zeros((n_res, 37, 3))}

    def fn(batch):
      ret = modules.AlphaFold_noE(m)(batch, is_training=False)
      return ret['structure_module']['final_atom_positions'], ret['plddt']
  return hk.transform(fn), (batch,)


# ----------------------------------------------------------------------------- running


def _rss_mib() -> float:
  """Peak RSS of this process in MiB: VmHWM (reset by exec, unlike ru_maxrss, which keeps
  the spawning parent's high-water mark across fork+exec), ru_maxrss where /proc is absent."""
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) / 1024.0  # kB
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _loss(outputs):
  return sum(jnp.sum(jnp.sin(x)) for x in jax.tree_util.tree_leaves(outputs))


def _cost_flops(compiled):
  try:
    cost = compiled.cost_analysis()
  except Exception:  # noqa: BLE001  (not every backend implements it)
    return None
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  return None if not cost or 'flops' not in cost else float(cost['flops'])


def run_case(spec: dict) -> dict:
  """spec: {family, impl, shape..., kind, repeats, budget_s, subbatch, seed, features?}."""
  rss_start = _rss_mib()
  impl, family = spec['impl'], spec['family']
  if family == 'evoformer':
    transformed, args = evoformer_case(impl, spec['n_seq'], spec['n_res'], spec['subbatch'])
  elif family == 'structure_module':
    transformed, args = structure_case(impl, spec['n_res'], spec['subbatch'])
  elif family == 'whole_model':
    with np.load(spec['features']) as f:
      features = {k: f[k] for k in f.files}
    transformed, args = whole_model_case(impl, features, spec['subbatch'])
  else:
    raise ValueError(f'unknown benchmark family {family!r}')

  shapes = jax.eval_shape(transformed.init, jax.random.PRNGKey(0), *args)
  params = random_params(shapes, spec['seed'])
  key = jax.random.PRNGKey(0)
  if spec['kind'] == 'fwd':
    fn = jax.jit(lambda p, *a: transformed.apply(p, key, *a))
  else:  # gradient of a scalar of every output w.r.t. all parameters (training step minus update)
    fn = jax.jit(jax.value_and_grad(lambda p, *a: _loss(transformed.apply(p, key, *a))))

  flops_unchunked = None
  if family == 'evoformer':
    # XLA's cost analysis counts a while-loop body once, so the subbatch-chunked program
    # under-reports FLOPs; count them on the same block without chunking (lowered, not run).
    plain, _ = evoformer_case('ours' if impl.startswith('ours') else impl, spec['n_seq'],
                              spec['n_res'], None if impl.startswith('ours') else 10 ** 9)
    plain_fn = (jax.jit(lambda p, *a: plain.apply(p, key, *a)) if spec['kind'] == 'fwd' else
                jax.jit(jax.value_and_grad(lambda p, *a: _loss(plain.apply(p, key, *a)))))
    flops_unchunked = _cost_flops(plain_fn.lower(params, *args))

  t0 = time.perf_counter()
  compiled = fn.lower(params, *args).compile()
  compile_s = time.perf_counter() - t0
  mem = compiled.memory_analysis()
  flops = _cost_flops(compiled)
  rss_compiled = _rss_mib()
  memory = {'temp_bytes': None if mem is None else int(mem.temp_size_in_bytes),
            'argument_bytes': None if mem is None else int(mem.argument_size_in_bytes),
            'output_bytes': None if mem is None else int(mem.output_size_in_bytes)}
  if spec.get('compile_only'):
    return {'param_signature': shape_signature(shapes), 'compile_s': compile_s, 'flops': flops,
            'flops_unchunked': flops_unchunked,
            **memory, 'peak_rss_mib': rss_compiled}

  t0 = time.perf_counter()
  out = jax.block_until_ready(compiled(params, *args))  # warm-up
  warmup_s = time.perf_counter() - t0
  times = []
  deadline = time.perf_counter() + max(0.0, spec['budget_s'] - compile_s - warmup_s)
  for i in range(spec['repeats']):
    if i >= 1 and time.perf_counter() + statistics.median(times) > deadline:
      break  # keep the case inside its budget; at least one timed run
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(params, *args))
    times.append(time.perf_counter() - t0)

  summary = out[0] if spec['kind'] != 'fwd' else out  # fwd+bwd: (loss, grads) -> loss
  leaves = [np.asarray(x, np.float64) for x in jax.tree_util.tree_leaves(summary)]
  if spec.get('save_outputs'):
    np.savez(spec['save_outputs'], *leaves)
  return {
      'param_signature': shape_signature(shapes),
      'num_params': int(sum(np.prod(v.shape) for d in shapes.values() for v in d.values())),
      'compile_s': compile_s,
      'warmup_s': warmup_s,
      'times_s': times,
      'median_s': statistics.median(times),
      **memory,
      'flops': flops,
      'flops_unchunked': flops_unchunked,
      'rss_start_mib': rss_start,
      'rss_after_compile_mib': rss_compiled,
      'peak_rss_mib': _rss_mib(),
      'finite': bool(all(np.isfinite(x).all() for x in leaves)),
  }


def matmul_ceiling(size: int = 4096, repeats: int = 5) -> dict:
  """GFLOP/s of one jitted [size, size] @ [size, size] fp32 matmul (median of `repeats`)."""
  a = _normal(1, (size, size))
  b = _normal(2, (size, size))
  f = jax.jit(lambda x, y: jnp.dot(x, y, precision=jax.lax.Precision.HIGHEST))
  jax.block_until_ready(f(a, b))
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(f(a, b))
    times.append(time.perf_counter() - t0)
  med = statistics.median(times)
  return {'size': size, 'median_s': med, 'times_s': times,
          'gflops': 2.0 * size ** 3 / med / 1e9, 'best_gflops': 2.0 * size ** 3 / min(times) / 1e9}
