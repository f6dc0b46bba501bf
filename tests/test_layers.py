"""The package's import graph points down the layers of docs/ARCHITECTURE.md, never up.

Walks every module of alphafold_jax/ and data_pipeline/ with `ast` (imports inside functions
included, so a lazy import cannot hide an upward edge) and checks each edge against LAYERS.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# alphafold_jax sub-packages by layer, lowest first: a module may import its own layer and below.
LAYERS = {
    'common': 0, 'geometry': 0, 'params': 0,
    'nn': 1,
    'ops': 2,
    'model': 3,
    'losses': 4, 'metrics': 4,
    'config': 5,
    'training': 6, 'inference': 6, 'relax': 6,
    'cli': 7,
}
# Layers that must not reach the NumPy input pipeline (the model sees only arrays).
NO_DATA_PIPELINE = {'common', 'geometry', 'params', 'nn', 'ops', 'model', 'losses', 'metrics'}


def _modules(package: str):
  for path in sorted((ROOT / package).rglob('*.py')):
    yield path, path.relative_to(ROOT).with_suffix('').parts


def _imports(path: pathlib.Path):
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      yield node.module
    elif isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)


def _layer_of(parts) -> str:
  return parts[1] if len(parts) > 2 or parts[-1] != '__init__' else None


def test_every_subpackage_has_a_layer():
  names = {p.name.removesuffix('.py') for p in (ROOT / 'alphafold_jax').iterdir()
           if (p.is_dir() and (p / '__init__.py').exists()) or p.suffix == '.py'}
  assert names - {'__init__'} <= set(LAYERS), sorted(names - {'__init__'} - set(LAYERS))


def test_no_module_imports_a_higher_layer():
  upward = []
  for path, parts in _modules('alphafold_jax'):
    source = _layer_of(parts)
    if source is None:
      continue
    for module in _imports(path):
      if module.startswith('data_pipeline') and source in NO_DATA_PIPELINE:
        upward.append(f'{"/".join(parts)} imports {module}')
      if module.startswith('alphafold_jax.'):
        target = module.split('.')[1]
        if LAYERS.get(target, -1) > LAYERS[source]:
          upward.append(f'{"/".join(parts)} imports {module}')
  assert not upward, upward


def test_data_pipeline_never_imports_jax_or_the_model():
  bad = []
  for path, parts in _modules('data_pipeline'):
    for module in _imports(path):
      top = module.split('.')
      if top[0] in ('jax', 'jaxlib', 'haiku', 'optax') or (
          top[0] == 'alphafold_jax' and len(top) > 1 and top[1] != 'common'):
        bad.append(f'{"/".join(parts)} imports {module}')
  assert not bad, bad


@pytest.mark.parametrize('package', ['config', 'model', 'losses', 'metrics', 'geometry', 'ops'])
def test_no_lazy_getattr_hiding_imports(package):
  init = ROOT / 'alphafold_jax' / package / '__init__.py'
  assert 'def __getattr__' not in init.read_text()


def test_the_checker_catches_an_upward_import(tmp_path, monkeypatch):
  """The walk itself can fail: a planted model -> training import is reported."""
  fake = tmp_path / 'alphafold_jax' / 'model'
  fake.mkdir(parents=True)
  (fake / 'bad.py').write_text('def f():\n  from alphafold_jax.training import trainer\n')
  monkeypatch.setitem(globals(), 'ROOT', tmp_path)
  with pytest.raises(AssertionError, match='model/bad imports alphafold_jax.training'):
    test_no_module_imports_a_higher_layer()
