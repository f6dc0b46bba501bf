"""Overriding fields of nested frozen dataclass configs by field name.

`replace_everywhere(cfg, num_recycle=1)` sets every field called `num_recycle` in the whole
tree (the model's and the input pipeline's alike), so values that must agree cannot drift.
An override that matches no field fails with the list of valid names.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Iterator


def _walk_fields(cfg: Any, prefix: str = '') -> Iterator[tuple[str, str]]:
  """Yields (dotted path, field name) for every field in a dataclass tree."""
  for f in dataclasses.fields(cfg):
    path = f'{prefix}{f.name}'
    yield path, f.name
    value = getattr(cfg, f.name)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
      yield from _walk_fields(value, path + '.')


def field_names(cfg: Any) -> set[str]:
  return {name for _, name in _walk_fields(cfg)} | {p for p, _ in _walk_fields(cfg)}


def _replace(cfg: Any, name: str, value: Any) -> tuple[Any, int]:
  changes, hits = {}, 0
  for f in dataclasses.fields(cfg):
    current = getattr(cfg, f.name)
    if f.name == name:
      changes[f.name] = value
      hits += 1
    elif dataclasses.is_dataclass(current) and not isinstance(current, type):
      new, n = _replace(current, name, value)
      if n:
        changes[f.name] = new
        hits += n
  return (dataclasses.replace(cfg, **changes) if changes else cfg), hits


def _replace_path(cfg: Any, path: list[str], value: Any) -> Any:
  head, rest = path[0], path[1:]
  if not any(f.name == head for f in dataclasses.fields(cfg)):
    raise KeyError(head)
  if not rest:
    return dataclasses.replace(cfg, **{head: value})
  return dataclasses.replace(cfg, **{head: _replace_path(getattr(cfg, head), rest, value)})


class UnknownFieldError(ValueError):
  """An override names no field of the config."""


def replace_everywhere(cfg: Any, **overrides: Any) -> Any:
  """Returns `cfg` with each override applied to every field of that name.

  A dotted name ('structure_module.num_layer') targets one field exactly. An override that a
  config's own validation rejects in the current intermediate state (e.g. fewer MSA clusters
  before fewer templates) is retried after the others; its error stands if no order works.
  """
  pending = list(overrides.items())
  while pending:
    rejected = []
    for name, value in pending:
      try:
        cfg = _replace_one(cfg, name, value)
      except UnknownFieldError:
        raise
      except ValueError as e:
        rejected.append((name, value, e))
    if len(rejected) == len(pending):
      raise rejected[0][2]
    pending = [(name, value) for name, value, _ in rejected]
  return cfg


def _replace_one(cfg: Any, name: str, value: Any) -> Any:
  if '.' in name:
    try:
      return _replace_path(cfg, name.split('.'), value)
    except KeyError:
      raise UnknownFieldError(f'unknown config field {name!r}') from None
  cfg, hits = _replace(cfg, name, value)
  if not hits:
    names = sorted({n for _, n in _walk_fields(cfg)})
    close = difflib.get_close_matches(name, names, n=3)
    hint = f'; did you mean {", ".join(close)}?' if close else ''
    raise UnknownFieldError(f'unknown config field {name!r}{hint}')
  return cfg
