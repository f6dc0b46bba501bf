"""Every test module that uses the oracle (alphafold-colabfold) skips the same way without it:
`pytestmark = requires_oracle` from tests/oracle.py (reason: oracle.REASON)."""

import pathlib
import re

from tests import oracle

TESTS = pathlib.Path(__file__).resolve().parent
# Direct oracle imports, and the test helpers that call the oracle.
USES_ORACLE = re.compile(r"\balphafold\.(model|common|data)\b|oracle_configs\(|to_oracle_config\("
                         r"|\bbuild_case\b|\bloss_inputs\b")


def test_every_oracle_test_module_is_marked():
  unmarked = []
  for path in sorted(TESTS.rglob('test_*.py')):
    text = path.read_text()
    if path.name == pathlib.Path(__file__).name or not USES_ORACLE.search(text):
      continue
    if not re.search(r'^pytestmark = requires_oracle$', text, flags=re.M):
      unmarked.append(str(path.relative_to(TESTS)))
    assert 'pytest.importorskip(\'alphafold' not in text, path  # one way: oracle_import
  assert not unmarked, unmarked


def test_one_skip_reason():
  assert oracle.REASON == 'oracle alphafold-colabfold not installed'
  mark = oracle.requires_oracle.mark
  assert mark.name == 'skipif' and mark.kwargs['reason'] == oracle.REASON
  assert mark.args == (not oracle.AVAILABLE,)
