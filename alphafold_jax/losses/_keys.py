"""Key lookup with one clear error message naming the missing entry."""

from __future__ import annotations

from typing import Any, Mapping


class MissingInputError(KeyError, ValueError):
  """A loss needs an entry that the predictions or batch dict does not hold."""

  def __str__(self):  # KeyError would repr() the message
    return str(self.args[0])


def lookup(tree: Mapping[str, Any], *path: str, what: str = 'predictions') -> Any:
  """tree[path[0]][path[1]]... or MissingInputError naming the full path."""
  node = tree
  for i, key in enumerate(path):
    if not isinstance(node, Mapping) or key not in node:
      got = sorted(node.keys()) if isinstance(node, Mapping) else type(node).__name__
      raise MissingInputError(
          f"{what}[{']['.join(repr(k) for k in path[:i + 1])}] is required but missing "
          f'(available: {got})')
    node = node[key]
  return node
