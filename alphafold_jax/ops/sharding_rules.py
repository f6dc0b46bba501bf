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

import contextlib
import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

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


def residue_mesh(num_devices: int, axis_name: str = RESIDUE_AXIS) -> Mesh:
  """1-D mesh over the first num_devices local devices, for one prediction split by residues."""
  devices = jax.devices()
  if not 1 <= num_devices <= len(devices):
    raise ValueError(f'asked for {num_devices} devices, {len(devices)} available '
                     '(CPU: XLA_FLAGS=--xla_force_host_platform_device_count=N)')
  return Mesh(np.asarray(devices[:num_devices], dtype=object), (axis_name,))


def with_residue_split(global_config: GlobalConfig,
                       axis_name: str = RESIDUE_AXIS) -> GlobalConfig:
  """global_config whose trunk splits the residue axis over mesh axis `axis_name`."""
  return dataclasses.replace(global_config, residue_shard_axis=axis_name)


def mesh_context(mesh: Optional[Mesh]):
  """Context to trace/run a residue-split function in (a no-op without a mesh)."""
  return contextlib.nullcontext() if mesh is None else jax.set_mesh(mesh)
