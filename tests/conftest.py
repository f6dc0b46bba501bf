"""Shared test fixtures: paths to the bundled real data; fast-compiling, cached XLA programs.

Tests compile many small programs once each, so XLA's compile time (not run time) dominates the
suite. Two measures, both set before JAX initialises so that pytest-xdist workers and the
subprocesses some tests start (data parallelism, CLI) inherit them through the environment:

* Backend optimisation level 0 roughly halves compile time; every comparison in the suite runs
  both sides (ours and the oracle) under the same flags. Set XLA_FLAGS yourself to override.
* JAX's persistent compilation cache keeps every compiled program (no minimum compile time or
  size, so the tiny ones too) in JAX_COMPILATION_CACHE_DIR, default
  ~/.cache/alphafold_jax/jax_cache: a second run of the suite loads instead of compiling. The
  cache key includes the program, XLA_FLAGS, jax/jaxlib versions and the devices, so a stale
  entry cannot be used. `JAX_COMPILATION_CACHE_DIR= pytest ...` (empty) turns it off; delete the
  directory to measure a cold run. Entries are written atomically (write + rename), so parallel
  workers never read a half-written entry.
"""

import os
import pathlib

os.environ.setdefault(
    'XLA_FLAGS',
    '--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true')
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR',
                      os.path.join(os.path.expanduser('~'), '.cache', 'alphafold_jax', 'jax_cache'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '-1')  # no size minimum

import jax  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top

DATA_DIR = pathlib.Path(__file__).resolve().parent / 'data'


def _configure_compilation_cache() -> None:
  """Applies the environment above even if JAX was imported before this conftest."""
  cache_dir = os.environ['JAX_COMPILATION_CACHE_DIR']
  if not cache_dir:
    return
  os.makedirs(cache_dir, exist_ok=True)
  jax.config.update('jax_compilation_cache_dir', cache_dir)
  jax.config.update('jax_persistent_cache_min_compile_time_secs',
                    float(os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS']))
  jax.config.update('jax_persistent_cache_min_entry_size_bytes',
                    int(os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES']))
  _atomic_cache_writes()


def _atomic_cache_writes() -> None:
  """JAX's file cache (without eviction) writes entries in place; two xdist workers compiling
  the same program could read a partial entry (JAX then warns and recompiles), and a worker
  killed mid-write would leave a corrupt entry for good. Write to a temporary name, then rename."""
  try:
    from jax._src import lru_cache  # pylint: disable=g-import-not-at-top
  except ImportError:  # private module moved: keep JAX's own writes
    return
  cls = getattr(lru_cache, 'LRUCache', None)
  suffix = getattr(lru_cache, '_CACHE_SUFFIX', None)
  if cls is None or suffix is None or getattr(cls.put, '_atomic', False):
    return
  original = cls.put

  def put(self, key, value):
    if getattr(self, 'eviction_enabled', True) or not key:
      return original(self, key, value)
    path = pathlib.Path(str(self.path)) / f'{key}{suffix}'
    if path.exists():
      return None
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    tmp.write_bytes(value)
    os.replace(tmp, path)
    return None

  put._atomic = True  # pylint: disable=protected-access
  cls.put = put


_configure_compilation_cache()


@pytest.fixture(scope='session')
def data_dir() -> pathlib.Path:
  return DATA_DIR
