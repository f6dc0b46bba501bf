"""Helpers shared by the trunk oracle tests (padded inputs, oracle configs, oracle comparison)."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.ops.global_config import GlobalConfig
from tests.random_params import random_params


def oracle_configs():
  """(evoformer config, template config, global config) of the oracle's model_1_ptm in fp32,
  with the unfused triangle multiplication of the official monomer parameter files."""
  from alphafold.model import config as oracle_config
  cfg = oracle_config.model_config('model_1_ptm')
  gc = cfg.model.global_config
  gc.bfloat16 = False
  gc.deterministic = True
  ev = cfg.model.embeddings_and_evoformer
  for stack in (ev.evoformer, ev.template.template_pair_stack):
    for k in ('triangle_multiplication_outgoing', 'triangle_multiplication_incoming'):
      stack[k].fuse_projection_weights = False
  return ev.evoformer, ev.template, gc


def our_global_config(**kw) -> GlobalConfig:
  kw.setdefault('deterministic', True)
  kw.setdefault('subbatch_size', None)
  return GlobalConfig(**kw)


def param_shapes(transformed, *args):
  """The param tree's ShapeDtypeStructs, traced without running any initializer."""
  return jax.eval_shape(transformed.init, jax.random.PRNGKey(0), *args)


def padded_mask(shape, num_real, seed: int, holes: bool = True) -> np.ndarray:
  """Mask of `shape` ones in the leading `num_real[d]` positions of each axis, zeros after.

  With holes, a few random zeros are also punched into the real block (never a whole row)."""
  rng = np.random.default_rng(seed)
  mask = np.zeros(shape, np.float32)
  mask[tuple(slice(0, n) for n in num_real)] = 1.0
  if holes and len(shape) == 2 and num_real[1] > 2:
    for row in range(num_real[0]):
      if rng.random() < 0.3:
        mask[row, rng.integers(1, num_real[1])] = 0.0
  return mask


def normal(seed: int, shape, scale: float = 1.0) -> jnp.ndarray:
  return jnp.asarray(scale * np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def max_diff(a, b, mask=None) -> float:
  """max |a - b| over positions where mask (broadcast on trailing axes) is set."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  d = np.abs(a - b)
  if mask is not None:
    m = np.asarray(mask, bool)
    m = m.reshape(m.shape + (1,) * (d.ndim - m.ndim))
    d = np.where(m, d, 0.0)
  return float(d.max())


def same_tree_structure(p_ours, p_oracle) -> None:
  """Asserts both param dicts have identical module names, param names and shapes."""
  ours = {(m, n): v.shape for m, d in p_ours.items() for n, v in d.items()}
  theirs = {(m, n): v.shape for m, d in p_oracle.items() for n, v in d.items()}
  assert ours == theirs, (sorted(set(ours.items()) ^ set(theirs.items())))


def compare_with_oracle(ours_fn, oracle_fn, args, seed: int = 0, jit: bool = True):
  """Checks our param tree equals the oracle's, draws random params, returns (ours, oracle, params)."""
  t_oracle = hk.transform(oracle_fn)
  t_ours = hk.transform(ours_fn)
  shapes = param_shapes(t_oracle, *args)
  same_tree_structure(param_shapes(t_ours, *args), shapes)
  params = random_params(shapes, seed)
  apply_ours, apply_oracle = t_ours.apply, t_oracle.apply
  if jit:
    apply_ours, apply_oracle = jax.jit(apply_ours), jax.jit(apply_oracle)
  key = jax.random.PRNGKey(seed)
  return apply_ours(params, key, *args), apply_oracle(params, key, *args), params


def to_oracle_config(cfg):
  """Our (nested) config dataclass as the oracle's ConfigDict (None widths dropped)."""
  import dataclasses
  import ml_collections

  def convert(d):
    out = {}
    for k, v in d.items():
      if v is None:
        continue
      out[k] = convert(v) if isinstance(v, dict) else v
    if 'num_outer_channel' in out:
      out.setdefault('chunk_size', 128)  # the oracle's own OPM chunk knob
    return out

  return ml_collections.ConfigDict(convert(dataclasses.asdict(cfg)))


def tree_rel_diff(a, b) -> float:
  """max |a - b| over all leaves, relative to max(1, max |b|)."""
  la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
  diff = max(max_diff(x, y) for x, y in zip(la, lb))
  scale = max(float(np.abs(np.asarray(y)).max()) for y in lb)
  return diff / max(1.0, scale)
