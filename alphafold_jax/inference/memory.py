"""Will a bucket's program fit in memory? Estimates, availability, and a clear refusal.

  available_bytes()              ALPHAFOLD_JAX_AVAILABLE_MEMORY_MIB if set (tests, or a cap of
                                 your own); else the accelerator's free memory
                                 (device.memory_stats: bytes_limit - bytes_in_use); on CPU the
                                 smaller of MemAvailable (/proc/meminfo, else os.sysconf) and
                                 the cgroup limit minus usage.
  analytic_floor_bytes(config, batch)   a lower bound without compiling: the pair
                                 representation [L, L, c_z] float32 held three times (activation,
                                 update, residual) plus the MSA representations. If even this
                                 exceeds the memory, no chunking helps: only shorter inputs.
  compiled_bytes(compiled)       XLA's buffer assignment of the compiled program:
                                 arguments + outputs + temporaries (`memory_analysis()`).
  check_fits(...)                MemoryEstimateError naming need vs available and the flag that
                                 would make it fit (--buckets when padded, --max-length).
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

import numpy as np

from alphafold_jax.common.errors import UserError

ENV_AVAILABLE_MIB = 'ALPHAFOLD_JAX_AVAILABLE_MEMORY_MIB'
MIB = 2 ** 20
GIB = 2 ** 30


class MemoryEstimateError(UserError):
  """A bucket's program needs more memory than is available (one line, with the fix)."""

  def __init__(self, message: str, need: int, available: int, bucket: int):
    super().__init__(message)
    self.need, self.available, self.bucket = need, available, bucket
    self.template = message

  def for_target(self, name: str, length: int) -> 'MemoryEstimateError':
    """The same refusal, for another target of the same bucket."""
    return MemoryEstimateError(
        f'target {name!r} ({length} residues): bucket {self.bucket} was refused: {self.template}',
        self.need, self.available, self.bucket)


def _format(n: float) -> str:
  return f'{n / GIB:.2f} GiB' if n >= GIB else f'{n / MIB:.1f} MiB'


def _meminfo_available() -> Optional[int]:
  try:
    with open('/proc/meminfo', encoding='ascii') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  try:
    return int(os.sysconf('SC_AVPHYS_PAGES')) * int(os.sysconf('SC_PAGE_SIZE'))
  except (ValueError, OSError, AttributeError):
    return None


def _cgroup_available() -> Optional[int]:
  try:
    with open('/sys/fs/cgroup/memory.max', encoding='ascii') as f:
      limit = f.read().strip()
    if limit == 'max':
      return None
    with open('/sys/fs/cgroup/memory.current', encoding='ascii') as f:
      return int(limit) - int(f.read().strip())
  except (OSError, ValueError):
    return None


def available_bytes() -> int:
  """Memory the model may use now (see the module docstring)."""
  override = os.environ.get(ENV_AVAILABLE_MIB)
  if override:
    try:
      value = float(override)
    except ValueError:
      raise UserError(f'{ENV_AVAILABLE_MIB}={override!r} is not a number of MiB') from None
    if not value > 0:
      raise UserError(f'{ENV_AVAILABLE_MIB} must be positive, got {override!r}')
    return int(value * MIB)
  import jax  # pylint: disable=import-outside-toplevel
  device = jax.devices()[0]
  if device.platform != 'cpu':
    try:
      stats = device.memory_stats() or {}
      if 'bytes_limit' in stats:
        return int(stats['bytes_limit']) - int(stats.get('bytes_in_use', 0))
    except Exception:  # pylint: disable=broad-except  (backends without memory stats)
      pass
  values = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
  return min(values) if values else 2 ** 62


def analytic_floor_bytes(config, batch: Mapping[str, np.ndarray]) -> int:
  """Lower bound of the activations (float32): 3 x pair [L, L, c_z] + MSA + extra MSA."""
  n_res = int(np.shape(batch['aatype'])[-1])
  evo = config.evoformer
  pair = 3 * n_res * n_res * int(evo.pair_channel)
  msa = 2 * int(np.shape(batch['msa_feat'])[-3]) * n_res * int(evo.msa_channel) \
      if 'msa_feat' in batch else 0
  extra = int(np.shape(batch['extra_msa'])[-2]) * n_res * int(evo.extra_msa_channel) \
      if 'extra_msa' in batch else 0
  return 4 * (pair + msa + extra)


def compiled_bytes(compiled) -> Optional[int]:
  """Arguments + outputs + temporaries of a compiled jax program (None when not reported)."""
  try:
    stats = compiled.memory_analysis()
  except Exception:  # pylint: disable=broad-except  (not every backend reports it)
    return None
  if stats is None:
    return None
  total = sum(int(getattr(stats, field, 0) or 0) for field in (
      'argument_size_in_bytes', 'output_size_in_bytes', 'temp_size_in_bytes',
      'generated_code_size_in_bytes'))
  return total - int(getattr(stats, 'alias_size_in_bytes', 0) or 0)


def check_fits(need: int, available: int, how: str, bucket: int, name: str,
               length: int) -> None:
  """MemoryEstimateError unless need <= available; the message names the flag to use."""
  if need <= available:
    return
  hints = []
  if bucket > 2 * length and bucket - length > 64:
    hints.append(f'--buckets with a bucket >= {length} (now padded to {bucket})')
  # --chunk-budget-mib is not suggested: on CPU it did not lower XLA's compiled estimate
  # (nano_ipa, L 2048: 11.45 GiB unchunked, 17.37 GiB with 4 or 64 MiB chunks;
  # experiments/bad_inputs/README.md). Only shorter inputs are sure to fit.
  hints.append(f'--max-length {length - 1} to skip targets this long, or a machine with more '
               'memory')
  raise MemoryEstimateError(
      f'target {name!r} ({length} residues, bucket {bucket}) needs about {_format(need)} '
      f'({how}) but {_format(available)} is available; try ' + ', or '.join(hints),
      need, available, bucket)
