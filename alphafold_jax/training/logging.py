"""Observability: tqdm progress bar, JSONL metrics log, loss-curve PNG.

metrics.jsonl holds one JSON object per line: {"step": int, "kind": "train"|"eval",
"time": seconds since the run (re)started, <metric>: float, ...}; train records also carry
the step's input-pipeline timing (`data_timing`): data_wait_s (seconds the step waited for
its batch) and device_idle_fraction (that wait / the step's wall time: 0 = the loader kept
up). On resume, lines with a step beyond the restored checkpoint are dropped first, so the
log always matches the state and a resumed run's log equals an uninterrupted run's (apart
from the TIMING_KEYS).
Only process 0 writes files.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional

import numpy as np


TIMING_KEYS = ('time', 'data_wait_s', 'device_idle_fraction')  # wall-clock, differ run to run


def data_timing(waited: float, wall: float) -> Dict[str, float]:
  """The step's data wait (s) and device idle fraction = wait / step wall time."""
  return {'data_wait_s': float(waited),
          'device_idle_fraction': float(waited / wall) if wall > 0 else 0.}


def _to_float(v: Any) -> Any:
  v = np.asarray(v)
  if v.size != 1:
    return [float(x) for x in v.ravel()]
  v = v.item()
  return v if isinstance(v, (bool, int)) else float(v)


class MetricsLogger:
  """Appends JSON lines; truncates to a step on resume; plots loss curves."""

  def __init__(self, path: str | os.PathLike, enabled: bool = True):
    self.path = os.fspath(path)
    self.enabled = enabled
    self._t0 = time.time()
    if enabled:
      os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)

  def truncate_after(self, step: int) -> None:
    """Drops records with step > `step` (used when resuming from a checkpoint)."""
    if not self.enabled or not os.path.exists(self.path):
      return
    keep = [r for r in read_jsonl(self.path) if r.get('step', 0) <= step]
    tmp = self.path + '.tmp'
    with open(tmp, 'w') as f:
      for r in keep:
        f.write(json.dumps(r) + '\n')
    os.replace(tmp, self.path)

  def log(self, step: int, metrics: Mapping[str, Any], kind: str = 'train') -> Dict[str, Any]:
    record = {'step': int(step), 'kind': kind, 'time': round(time.time() - self._t0, 3)}
    record.update({k: _to_float(v) for k, v in metrics.items()})
    if self.enabled:
      with open(self.path, 'a') as f:
        f.write(json.dumps(record) + '\n')
    return record


def read_jsonl(path: str | os.PathLike) -> List[Dict[str, Any]]:
  """All records of a metrics log (a torn last line from a kill is skipped)."""
  records = []
  with open(path) as f:
    for line in f:
      line = line.strip()
      if not line:
        continue
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:
        continue
  return records


def plot_loss_curve(records: Iterable[Mapping[str, Any]], path: str | os.PathLike,
                    keys: tuple = ('loss',), title: str = 'training') -> None:
  """Writes a PNG of train (and eval) `keys` against the step (matplotlib, Agg)."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  records = list(records)
  fig, ax = plt.subplots(figsize=(6, 4))
  for kind, style in (('train', '-'), ('eval', 'o-')):
    for key in keys:
      pts = [(r['step'], r[key]) for r in records
             if r.get('kind') == kind and isinstance(r.get(key), (int, float))
             and math.isfinite(r[key])]
      if pts:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, style, label=f'{kind} {key}', markersize=3)
  ax.set_xlabel('step')
  ax.set_ylabel('value')
  if any(l.get_ydata().size and np.all(np.asarray(l.get_ydata()) > 0) for l in ax.get_lines()):
    ax.set_yscale('log')
  ax.set_title(title)
  ax.legend(loc='best')
  fig.tight_layout()
  fig.savefig(os.fspath(path), dpi=100)
  plt.close(fig)


class ProgressBar:
  """Thin tqdm wrapper (disabled on non-zero processes or on request)."""

  def __init__(self, total: int, initial: int = 0, enabled: bool = True):
    self._bar = None
    if enabled:
      from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel
      self._bar = tqdm(total=total, initial=initial, unit='step', dynamic_ncols=True)

  def update(self, record: Optional[Mapping[str, Any]] = None, n: int = 1) -> None:
    if self._bar is None:
      return
    if record:
      shown = {k: f'{v:.4g}' for k, v in record.items()
               if k in ('loss', 'grad_norm', 'ca_rmsd') and isinstance(v, float)}
      self._bar.set_postfix(shown, refresh=False)
    self._bar.update(n)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
