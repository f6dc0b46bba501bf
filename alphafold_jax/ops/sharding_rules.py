"""Residue-axis sharding of ONE prediction over a device mesh (placement only, no model maths).

FastFold's dynamic axial parallelism written as GSPMD sharding constraints: the pair [N, N, c]
and the MSA [S, N, c] are split over the mesh axis `GlobalConfig.residue_shard_axis`, with the
split axis chosen per sub-layer so that each sub-layer's own reduction stays on one device:

  layout        array   split axis   used by
  'pair_rows'   pair    0 (rows i)   outgoing triangle multiplication, starting-node attention,
                                     pair transition, outer product mean output
  'pair_cols'   pair    1 (cols j)   incoming triangle multiplication, ending-node attention
  'msa_seqs'    msa     0 (S)        MSA row attention with pair bias (attends over residues)
  'msa_res'     msa     1 (N)        MSA column attention and transition (attend over rows)

Between two layouts XLA inserts the all-to-all (rows <-> columns) or all-gather it needs; the
other operand of a triangle multiplication or attention bias is gathered by XLA as well.
These rules are the ONLY place the layouts live; model code calls `constrain(x, layout, gc)`,
which is the identity when `residue_shard_axis` is None (the default, one device).
The caller runs the jitted function inside the mesh (`jax.set_mesh` / `with mesh:`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from alphafold_jax.ops.global_config import GlobalConfig

RESIDUE_AXIS = 'residue'  # default mesh axis name for the residue split
_SPLIT_AXIS = {'pair_rows': 0, 'pair_cols': 1, 'msa_seqs': 0, 'msa_res': 1}


def spec(layout: str, ndim: int, axis_name: str) -> PartitionSpec:
  """PartitionSpec of an array of `ndim` axes in `layout`."""
  parts = [None] * ndim
  parts[_SPLIT_AXIS[layout]] = axis_name
  return PartitionSpec(*parts)


def constrain(x: jnp.ndarray, layout: str, global_config: GlobalConfig) -> jnp.ndarray:
  """x laid out as `layout` over the residue mesh axis (identity without one)."""
  axis = global_config.residue_shard_axis
  if axis is None:
    return x
  return jax.lax.with_sharding_constraint(x, spec(layout, x.ndim, axis))
