"""Device mesh and sharding rules for data-parallel training (jit + NamedSharding).

Rules (the ONLY place they live; model code knows nothing of devices):
  * a 1-D mesh over every device of every process, axis name `config.data_axis`;
  * batch arrays: leading (batch) axis sharded over that axis, the rest replicated;
  * train state (params, optimiser state, step, rng): replicated.
With these shardings `jit` (GSPMD) turns the batch mean of the loss into an all-reduce,
so the gradient every device applies is the global-batch average.

2-D (data x residue) meshes for training one example split over several devices:
`make_mesh_2d`; the per-example residue layouts live in alphafold_jax/ops/sharding_rules.py.

Multi-host: with `shard_batch` every process builds the same GLOBAL batch and
`jax.make_array_from_callback` hands each process only its addressable shards; with
`process_rows` + `shard_host_batch` each process builds only ITS rows of the global batch
(training/loader.py: each host featurises its part) and they are assembled into one global
array (`jax.make_array_from_process_local_data`).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


class ShardingError(ValueError):
  """A batch or device layout does not fit the data-parallel mesh."""


def make_mesh(axis_name: str = 'data', devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """1-D data-parallel mesh over `devices` (default: all devices of all processes)."""
  devices = list(jax.devices() if devices is None else devices)
  if not devices:
    raise ShardingError('make_mesh: no devices')
  return Mesh(np.asarray(devices, dtype=object), (axis_name,))


def make_mesh_2d(num_data: int, num_residue: int, data_axis: str = 'data',
                 residue_axis: str = 'residue',
                 devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """2-D mesh: examples split over `data_axis`, each example's residues over `residue_axis`
  (the model's layouts: alphafold_jax/ops/sharding_rules.py, with
  GlobalConfig.residue_shard_axis = residue_axis; make_train_step(spmd_axis_name=data_axis)).
  Batch leaves use `batch_sharding(mesh, data_axis)` (replicated over residues on entry)."""
  devices = list(jax.devices() if devices is None else devices)
  if len(devices) < num_data * num_residue:
    raise ShardingError(f'a {num_data} x {num_residue} mesh needs {num_data * num_residue} '
                        f'devices, {len(devices)} available')
  grid = np.asarray(devices[:num_data * num_residue], dtype=object).reshape(num_data, num_residue)
  return Mesh(grid, (data_axis, residue_axis))


def replicated(mesh: Mesh) -> NamedSharding:
  """Sharding for the train state: a full copy on every device."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh, axis_name: Optional[str] = None) -> NamedSharding:
  """Sharding for batch leaves: leading axis split over the data axis."""
  axis_name = axis_name or mesh.axis_names[0]
  return NamedSharding(mesh, PartitionSpec(axis_name))


def check_batch_size(batch_size: int, mesh: Mesh, axis_name: Optional[str] = None) -> None:
  n = mesh.shape[axis_name or mesh.axis_names[0]]  # devices along the data axis
  if batch_size % n:
    raise ShardingError(f'global batch size {batch_size} is not divisible by the {n} devices '
                        f'of the data-parallel mesh; choose a multiple of {n}')


def shard_batch(batch: Mapping[str, Any], mesh: Mesh, axis_name: Optional[str] = None) -> dict:
  """Places a GLOBAL host batch (dict of arrays with leading batch axis) on the mesh.

  Works unchanged on one or many processes: each process materialises only the shards
  its own devices hold. All leaves must share the leading batch size.
  """
  sharding = batch_sharding(mesh, axis_name)
  sizes = {k: np.shape(v)[0] if np.ndim(v) else None for k, v in batch.items()}
  bad = sorted(k for k, s in sizes.items() if s is None)
  if bad:
    raise ShardingError(f'batch entries {bad} are scalars; every entry needs a leading batch axis')
  if len(set(sizes.values())) != 1:
    raise ShardingError(f'batch entries disagree on the batch size: {sizes}')
  check_batch_size(next(iter(sizes.values())), mesh, axis_name)
  out = {}
  for key, value in batch.items():
    value = np.asarray(value)
    out[key] = jax.make_array_from_callback(value.shape, sharding, lambda idx, v=value: v[idx])
  return out


def process_rows(mesh: Mesh, batch_size: int, axis_name: Optional[str] = None) -> Tuple[int, int]:
  """[start, stop): the rows of the global batch this process's devices hold (one contiguous
  block: the mesh lists each process's devices together, as make_mesh does)."""
  check_batch_size(batch_size, mesh, axis_name)
  indices = batch_sharding(mesh, axis_name).addressable_devices_indices_map((batch_size,))
  blocks = sorted({s[0].indices(batch_size)[:2] for s in indices.values()})
  for (_, stop), (start, _) in zip(blocks, blocks[1:]):
    if start != stop:
      raise ShardingError(f'this process holds batch rows {blocks}, not one contiguous block; '
                          'order the mesh devices by process')
  return blocks[0][0], blocks[-1][1]


def shard_host_batch(local: Mapping[str, Any], mesh: Mesh, batch_size: int,
                     axis_name: Optional[str] = None) -> dict:
  """Places this process's rows `process_rows(mesh, batch_size)` of the global batch on the
  mesh as global arrays of batch size `batch_size` (every process calls it with its rows)."""
  start, stop = process_rows(mesh, batch_size, axis_name)
  sharding = batch_sharding(mesh, axis_name)
  out = {}
  for key, value in local.items():
    value = np.asarray(value)
    if value.ndim == 0 or value.shape[0] != stop - start:
      raise ShardingError(f'batch entry {key!r} has shape {value.shape}; this process feeds '
                          f'rows [{start}, {stop}) of the global batch of {batch_size}')
    out[key] = jax.make_array_from_process_local_data(sharding, value,
                                                      (batch_size,) + value.shape[1:])
  return out


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a host pytree (e.g. a TrainState) fully replicated on the mesh."""
  sharding = replicated(mesh)

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx, v=x: v[idx])

  return jax.tree.map(put, tree)
