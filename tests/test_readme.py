"""README keeps exactly two set-up commands, and CI runs the README's test command."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _setup_commands():
  readme = (ROOT / 'README.md').read_text()
  section = readme.split('## Set up', 1)[1].split('\n## ', 1)[0]
  return re.findall(r'```bash\n(.*?)\n```', section, flags=re.S)


def test_readme_has_two_setup_commands_one_of_them_the_tests():
  commands = _setup_commands()
  assert len(commands) == 2, commands
  install_and_run, install_and_test = commands
  assert 'pip install' in install_and_run and 'alphafold-jax' in install_and_run
  assert "pip install -e '.[test]'" in install_and_test and 'pytest' in install_and_test


def test_ci_runs_the_readme_test_command():
  test_command = _setup_commands()[1].split('&&')[-1].strip()  # python -m pytest ...
  ci = (ROOT / '.ci' / 'run').read_text()
  assert test_command in ci, (test_command, ci)


def test_main_job_inputs_exist():
  for path in re.findall(r'tests/data/\S+\.(?:pdb|cif|fasta)', _setup_commands()[0]):
    assert (ROOT / path).is_file(), path
