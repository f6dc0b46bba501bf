"""lDDT: superposition-free local distance difference test (Mariani et al. 2013).

AF2 definition (`alphafold.model.lddt`; the pLDDT target of Suppl. Alg. 29): for every
ordered pair (i, j), i != j, both present in the reference and closer than the
inclusion radius (15 A) IN THE REFERENCE, score the fraction of the thresholds
0.5, 1, 2, 4 A that |d_ij(pred) - d_ij(ref)| stays under; average over pairs.
Like AF2, no stereochemical-plausibility correction (an approximate lDDT).

Pure jnp (usable inside losses and under jit/grad); NumPy inputs are accepted.
Shapes: N = residues (or points), [...] = optional batch dims.
  predicted, reference: [..., N, 3]    mask: [..., N] (1 = present in the reference)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

LDDT_THRESHOLDS = (0.5, 1.0, 2.0, 4.0)


def _pairwise_dist(x: jnp.ndarray) -> jnp.ndarray:
  """[..., N, 3] -> [..., N, N]; the 1e-10 keeps sqrt differentiable at 0 (as AF2)."""
  return jnp.sqrt(1e-10 + jnp.sum(jnp.square(x[..., :, None, :] - x[..., None, :, :]), -1))


def lddt(predicted, reference, mask=None, cutoff: float = 15.,
         per_residue: bool = False, thresholds=LDDT_THRESHOLDS) -> jnp.ndarray:
  """lDDT in [0, 1]. Returns [...] (global) or [..., N] (per_residue=True).

  Global lDDT pools all scored pairs (it is NOT the mean of the per-residue
  values). A residue with no scored partner gets per-residue lDDT 1, the same
  as AF2 (its eps-regularised ratio is 1e-10/1e-10); mask it out downstream.
  """
  predicted = jnp.asarray(predicted, jnp.float32)
  reference = jnp.asarray(reference, jnp.float32)
  if predicted.shape != reference.shape or predicted.shape[-1] != 3:
    raise ValueError(f'lddt: predicted {predicted.shape} and reference '
                     f'{reference.shape} must both be [..., N, 3]')
  if mask is None:
    mask = jnp.ones(reference.shape[:-1], jnp.float32)
  mask = jnp.asarray(mask, jnp.float32)  # [..., N]
  return _lddt(predicted, reference, mask, float(cutoff), bool(per_residue),
               tuple(float(t) for t in thresholds))


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _lddt(predicted, reference, mask, cutoff, per_residue, thresholds):
  n = reference.shape[-2]
  d_ref = _pairwise_dist(reference)  # [..., N, N]
  d_pred = _pairwise_dist(predicted)  # [..., N, N]
  pair_mask = ((d_ref < cutoff).astype(jnp.float32)
               * mask[..., :, None] * mask[..., None, :]
               * (1. - jnp.eye(n, dtype=jnp.float32)))  # [..., N, N]
  err = jnp.abs(d_ref - d_pred)  # [..., N, N]
  score = sum((err < t).astype(jnp.float32) for t in thresholds) / len(thresholds)
  axes = (-1,) if per_residue else (-2, -1)
  num = 1e-10 + jnp.sum(pair_mask * score, axis=axes)
  den = 1e-10 + jnp.sum(pair_mask, axis=axes)
  return num / den


def lddt_ca(predicted_atom37, reference_atom37, reference_atom37_mask,
            cutoff: float = 15., per_residue: bool = False) -> jnp.ndarray:
  """lDDT-Ca from atom37 arrays: positions [..., N, 37, 3], mask [..., N, 37] (CA = index 1)."""
  ca = 1
  return lddt(jnp.asarray(predicted_atom37)[..., ca, :],
              jnp.asarray(reference_atom37)[..., ca, :],
              jnp.asarray(reference_atom37_mask)[..., ca],
              cutoff=cutoff, per_residue=per_residue)
