"""Helpers shared by the trunk oracle tests (random params, padded inputs, oracle configs)."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from alphafold_jax.config.global_config import GlobalConfig


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


def perturb(params, seed: int, scale: float = 0.2):
  """Adds N(0, scale^2) noise to every leaf so AF2's zero/one initialisations become generic."""
  leaves, treedef = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  noisy = [x + scale * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
  return jax.tree_util.tree_unflatten(treedef, noisy)


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
  return scale * jax.random.normal(jax.random.PRNGKey(seed), shape, jnp.float32)


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


def compare_with_oracle(ours_fn, oracle_fn, args, seed: int = 0, scale: float = 0.2):
  """Inits the oracle, checks our param tree equals it, perturbs params, returns both outputs."""
  t_oracle = hk.transform(oracle_fn)
  t_ours = hk.transform(ours_fn)
  key = jax.random.PRNGKey(seed)
  p_oracle = t_oracle.init(key, *args)
  p_ours = t_ours.init(key, *args)
  same_tree_structure(p_ours, p_oracle)
  params = perturb(p_oracle, seed + 1, scale)
  return t_ours.apply(params, key, *args), t_oracle.apply(params, key, *args), params
