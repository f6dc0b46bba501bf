"""Multi-host setup: `jax.distributed.initialize` from CLI flags or environment variables.

Sources, in priority order: explicit arguments (CLI flags) > our environment variables
  ALPHAFOLD_JAX_COORDINATOR   host:port of process 0's coordinator (e.g. 10.0.0.1:1234)
  ALPHAFOLD_JAX_NUM_PROCESSES total number of processes
  ALPHAFOLD_JAX_PROCESS_ID    this process's index, 0-based
  ALPHAFOLD_JAX_LOCAL_DEVICES optional comma-separated local device ids
> JAX's own auto-detection (SLURM, Cloud TPU, ...), which `auto=True` requests.
Nothing set and auto=False: single process, no call (the common case).

Must run before any other JAX call that touches devices. On CPU, cross-process
collectives use gloo (jax_cpu_collectives_implementation, JAX's default here).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Mapping, Optional, Sequence

import jax

ENV_COORDINATOR = 'ALPHAFOLD_JAX_COORDINATOR'
ENV_NUM_PROCESSES = 'ALPHAFOLD_JAX_NUM_PROCESSES'
ENV_PROCESS_ID = 'ALPHAFOLD_JAX_PROCESS_ID'
ENV_LOCAL_DEVICES = 'ALPHAFOLD_JAX_LOCAL_DEVICES'


class DistributedConfigError(ValueError):
  """Inconsistent multi-host settings."""


@dataclasses.dataclass(frozen=True)
class DistributedConfig:
  coordinator_address: Optional[str] = None
  num_processes: Optional[int] = None
  process_id: Optional[int] = None
  local_device_ids: Optional[tuple] = None
  auto: bool = False  # let JAX detect the cluster (SLURM, TPU pods, ...)

  @property
  def enabled(self) -> bool:
    return self.auto or self.coordinator_address is not None

  def validate(self) -> 'DistributedConfig':
    if self.auto:
      return self
    given = [self.coordinator_address is not None, self.num_processes is not None,
             self.process_id is not None]
    if any(given) and not all(given):
      raise DistributedConfigError(
          'multi-host needs all of coordinator address, number of processes and process id '
          f'(flags --coordinator/--num-processes/--process-id or env {ENV_COORDINATOR}/'
          f'{ENV_NUM_PROCESSES}/{ENV_PROCESS_ID}); got coordinator={self.coordinator_address!r}, '
          f'num_processes={self.num_processes!r}, process_id={self.process_id!r}')
    if all(given):
      host, sep, port = self.coordinator_address.rpartition(':')
      if not sep or not host or not port.isdigit():
        raise DistributedConfigError(
            f'coordinator address must be host:port, got {self.coordinator_address!r}')
      if self.num_processes < 1:
        raise DistributedConfigError(f'num_processes must be >= 1, got {self.num_processes}')
      if not 0 <= self.process_id < self.num_processes:
        raise DistributedConfigError(
            f'process_id {self.process_id} is outside [0, {self.num_processes})')
    return self


def _int_or_none(value: Optional[str], name: str) -> Optional[int]:
  if value is None or value == '':
    return None
  try:
    return int(value)
  except ValueError:
    raise DistributedConfigError(f'{name} must be an integer, got {value!r}') from None


def resolve(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
            process_id: Optional[int] = None, local_device_ids: Optional[Sequence[int]] = None,
            auto: bool = False, environ: Optional[Mapping[str, str]] = None) -> DistributedConfig:
  """Merges explicit values with the environment and validates the result."""
  env = os.environ if environ is None else environ
  if local_device_ids is None and env.get(ENV_LOCAL_DEVICES):
    local_device_ids = [_int_or_none(x, ENV_LOCAL_DEVICES)
                        for x in env[ENV_LOCAL_DEVICES].split(',')]
  config = DistributedConfig(
      coordinator_address=coordinator if coordinator is not None else (env.get(ENV_COORDINATOR) or None),
      num_processes=num_processes if num_processes is not None else _int_or_none(
          env.get(ENV_NUM_PROCESSES), ENV_NUM_PROCESSES),
      process_id=process_id if process_id is not None else _int_or_none(
          env.get(ENV_PROCESS_ID), ENV_PROCESS_ID),
      local_device_ids=tuple(local_device_ids) if local_device_ids is not None else None,
      auto=auto)
  return config.validate()


def initialize(config: DistributedConfig) -> bool:
  """Calls jax.distributed.initialize if multi-host is configured. Returns whether it did."""
  if not config.enabled:
    return False
  if config.auto:
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(
        coordinator_address=config.coordinator_address, num_processes=config.num_processes,
        process_id=config.process_id,
        local_device_ids=list(config.local_device_ids) if config.local_device_ids else None)
  return True


def add_flags(parser: argparse.ArgumentParser) -> None:
  """Adds --coordinator / --num-processes / --process-id / --local-devices / --auto-distributed."""
  group = parser.add_argument_group('multi-host (jax.distributed)')
  group.add_argument('--coordinator', default=None,
                     help=f'host:port of the coordinator (process 0); env {ENV_COORDINATOR}')
  group.add_argument('--num-processes', type=int, default=None,
                     help=f'total number of processes; env {ENV_NUM_PROCESSES}')
  group.add_argument('--process-id', type=int, default=None,
                     help=f'index of this process; env {ENV_PROCESS_ID}')
  group.add_argument('--local-devices', default=None,
                     help=f'comma-separated local device ids; env {ENV_LOCAL_DEVICES}')
  group.add_argument('--auto-distributed', action='store_true',
                     help='let JAX auto-detect the cluster (SLURM, TPU pods)')


def from_args(args: argparse.Namespace) -> DistributedConfig:
  local = None
  if getattr(args, 'local_devices', None):
    local = [_int_or_none(x, '--local-devices') for x in args.local_devices.split(',')]
  return resolve(coordinator=args.coordinator, num_processes=args.num_processes,
                 process_id=args.process_id, local_device_ids=local,
                 auto=bool(getattr(args, 'auto_distributed', False)))
