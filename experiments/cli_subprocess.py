"""Run an `alphafold-jax` command the way a user does, as a subprocess, and measure it.

Shared by the experiments that report a CLI run's wall time and peak memory
(benchmarks/long_sequence_predict.py, multimer/run_full_size.py).
"""

from __future__ import annotations

import os
import pathlib
import resource
import subprocess
import sys
import time
from typing import Sequence, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_cli(args: Sequence[str]) -> Tuple[subprocess.CompletedProcess, dict]:
  """`python -m alphafold_jax.cli ARGS` with this repository first on PYTHONPATH.

  Returns the finished process and facts: the command as a user types it, wall seconds, the
  peak RSS of this process's children (GiB; ru_maxrss) and the exit code."""
  cmd = [sys.executable, '-m', 'alphafold_jax.cli', *args]
  t0 = time.time()
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                        env={**os.environ, 'PYTHONPATH': str(ROOT)}, check=False)
  facts = {
      'command': ' '.join(['alphafold-jax', *args]),
      'predict_wall_seconds': round(time.time() - t0, 1),
      'predict_peak_rss_gib': round(
          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2),
      'predict_exit_code': proc.returncode,
  }
  return proc, facts
