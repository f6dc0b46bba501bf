"""Shared test fixtures: paths to the bundled real data; fast-compiling XLA for the suite.

Tests compile many small programs once each, so XLA's compile time (not run time) dominates the
suite. Backend optimisation level 0 roughly halves it; every comparison in the suite runs both
sides (ours and the oracle) under the same flags. Set XLA_FLAGS yourself to override.
"""

import os
import pathlib

os.environ.setdefault(
    'XLA_FLAGS',
    '--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true')

import pytest  # pylint: disable=g-import-not-at-top

DATA_DIR = pathlib.Path(__file__).resolve().parent / 'data'


@pytest.fixture(scope='session')
def data_dir() -> pathlib.Path:
  return DATA_DIR
