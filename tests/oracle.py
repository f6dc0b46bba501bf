"""The oracle (pip `alphafold-colabfold`, DeepMind's AF2 code): how oracle tests skip without it.

Every test module that compares against the oracle carries `pytestmark = requires_oracle` (from tests.oracle)
(tests/test_oracle_marking.py checks this); a module that imports the oracle at module level
uses `oracle_import(name)`. Both skip with the same reason, REASON.
"""

import importlib.util

import pytest

REASON = 'oracle alphafold-colabfold not installed'


def _available() -> bool:
  try:
    return importlib.util.find_spec('alphafold') is not None
  except (ImportError, ValueError):  # e.g. sys.modules['alphafold'] = None
    return False


AVAILABLE = _available()

requires_oracle = pytest.mark.skipif(not AVAILABLE, reason=REASON)


def oracle_import(name: str):
  """`import name` (an oracle module), or skip the calling module with REASON."""
  if not AVAILABLE:
    pytest.skip(REASON, allow_module_level=True)
  return pytest.importorskip(name, reason=REASON)
