"""Compile-time helpers for training on slow hosts (CPU): cheap XLA compiles where run time
does not matter.

Parameter init runs once, so its XLA program is compiled with the backend optimiser off
(`FAST_COMPILE_OPTIONS`, the flags tests/conftest.py sets for the whole suite): on the 2-core
CPU box this cut nano_diffusion's init from ~50 s (eager Haiku init, op by op) to ~15 s and
nano_ipa's from ~130 s to ~30 s, with identical values up to float rounding (<= 1e-7). The train
step keeps the default optimisation level: at level 0 it ran ~2x slower per step.

Across runs the persistent compilation cache removes most of the first-step cost (measured:
nano_diffusion train step 101 s -> 18 s, the rest is tracing): set
JAX_COMPILATION_CACHE_DIR=<dir> in the environment, or call `enable_compilation_cache(dir)`
before the first compile.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax

# XLA DebugOptions for programs that run once (jax.jit(..., compiler_options=...)).
FAST_COMPILE_OPTIONS = {
    'xla_backend_optimization_level': 0,
    'xla_llvm_disable_expensive_passes': True,
}


def jit_fast_compile(fn: Callable, **jit_kwargs: Any) -> Callable:
  """jax.jit(fn) compiled with `FAST_COMPILE_OPTIONS` (for run-once programs such as init)."""
  return jax.jit(fn, compiler_options=dict(FAST_COMPILE_OPTIONS), **jit_kwargs)


def enable_compilation_cache(cache_dir: str | os.PathLike, min_compile_time_s: float = 1.0
                             ) -> None:
  """Persist compiled XLA programs under `cache_dir` (jax's persistent compilation cache), so a
  resumed or repeated run skips recompiling the train step, init and evaluation."""
  cache_dir = os.fspath(cache_dir)
  os.makedirs(cache_dir, exist_ok=True)
  jax.config.update('jax_compilation_cache_dir', cache_dir)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', float(min_compile_time_s))
