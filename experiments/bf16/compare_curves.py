"""Compares the nano_ipa training curves of experiments/bf16/train_curve.sh.

    python experiments/bf16/compare_curves.py runs/bf16_curve

"Within noise": the gap between bf16 and fp32 (same init, same batches) is compared with the
gap between two fp32 runs that differ only in seed, on the loss averaged over 20-step windows
(batch 1: one protein per step, so single steps are dominated by which protein it is).
Also reports s/step (median over steps after the first, which compiles) and peak RSS from
`/usr/bin/time -v`. Writes experiments/bf16/train_curve.png and train_curve.json.
"""

import json
import pathlib
import re
import sys

import numpy as np

RUNS = ('fp32_seed0', 'bf16_seed0', 'fp32_seed1')
WINDOW = 20
HERE = pathlib.Path(__file__).resolve().parent


def load(run_dir: pathlib.Path):
  rows = [json.loads(line) for line in open(run_dir / 'metrics.jsonl')]
  rows = [r for r in rows if r.get('kind') == 'train']
  steps = np.array([r['step'] for r in rows])
  loss = np.array([r['loss'] for r in rows])
  times = np.array([r['time'] for r in rows])
  return steps, loss, times


def windows(x: np.ndarray) -> np.ndarray:
  n = len(x) // WINDOW
  return x[:n * WINDOW].reshape(n, WINDOW).mean(axis=1)


def peak_rss_gib(path: pathlib.Path) -> float:
  match = re.search(r'Maximum resident set size \(kbytes\): (\d+)', path.read_text())
  return int(match.group(1)) / 2**20 if match else float('nan')


def main(out: str) -> None:
  out = pathlib.Path(out)
  curves = {name: load(out / name) for name in RUNS}
  smooth = {name: windows(curves[name][1]) for name in RUNS}
  gap_bf16 = np.abs(smooth['bf16_seed0'] - smooth['fp32_seed0'])
  gap_seed = np.abs(smooth['fp32_seed1'] - smooth['fp32_seed0'])
  result = {
      'steps': int(curves['fp32_seed0'][0][-1]), 'window': WINDOW,
      'mean_abs_gap_bf16_vs_fp32': float(gap_bf16.mean()),
      'mean_abs_gap_fp32_seed1_vs_seed0': float(gap_seed.mean()),
      'final_window_loss': {name: float(smooth[name][-1]) for name in RUNS},
      's_per_step': {name: float(np.median(np.diff(curves[name][2][1:]))) for name in RUNS},
      'peak_rss_gib': {name: peak_rss_gib(out / f'{name}.time') for name in RUNS},
  }
  print(json.dumps(result, indent=1))
  (HERE / 'train_curve.json').write_text(json.dumps(result, indent=1) + '\n')

  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, ax = plt.subplots(figsize=(7, 4))
  styles = {'fp32_seed0': ('tab:blue', '-'), 'bf16_seed0': ('tab:red', '--'),
            'fp32_seed1': ('tab:gray', ':')}
  for name in RUNS:
    x = (np.arange(len(smooth[name])) + 0.5) * WINDOW
    color, style = styles[name]
    ax.plot(x, smooth[name], style, color=color, lw=2, label=name.replace('_', ', '))
  ax.set_xlabel('training step')
  ax.set_ylabel(f'nano_ipa loss ({WINDOW}-step mean)')
  ax.set_title(f'bf16 vs fp32: mean gap {result["mean_abs_gap_bf16_vs_fp32"]:.3f}, '
               f'fp32 seed-to-seed {result["mean_abs_gap_fp32_seed1_vs_seed0"]:.3f}')
  ax.legend()
  fig.tight_layout()
  fig.savefig(HERE / 'train_curve.png', dpi=90)


if __name__ == '__main__':
  main(sys.argv[1])
