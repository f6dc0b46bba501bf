"""Loss terms (200-step means) and evaluation CA-RMSD of an af2_initial run.

    python experiments/af2_initial/plot.py runs/af2_initial/metrics.jsonl experiments/af2_initial/curves.png
"""

import json
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

TERMS = ('loss', 'distogram_loss', 'masked_msa_loss', 'fape', 'lddt_ca')
WINDOW = 200


def main(metrics_path: str, png_path: str) -> None:
  rows = [json.loads(line) for line in open(metrics_path)]
  train = [r for r in rows if r.get('kind') == 'train']
  evals = [r for r in rows if r.get('kind') == 'eval']
  fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
  for term in TERMS:
    values = np.array([r[term] for r in train if term in r])
    n = len(values) // WINDOW
    means = values[:n * WINDOW].reshape(n, WINDOW).mean(axis=1)
    left.plot((np.arange(n) + 0.5) * WINDOW, means, marker='o', ms=3,
              label=term + (' (train lDDT-Ca)' if term == 'lddt_ca' else ''))
  left.set_xlabel('step')
  left.set_ylabel(f'{WINDOW}-step mean')
  left.set_title('training terms (fape in units of 10 A, clamped)')
  left.legend(fontsize=8)
  right.plot([r['step'] for r in evals], [r['ca_rmsd'] for r in evals], marker='o',
             label='CA-RMSD mean (A)')
  right.plot([r['step'] for r in evals], [r['ca_rmsd_worst'] for r in evals], marker='.',
             label='CA-RMSD worst (A)')
  right.set_xlabel('step')
  right.set_title('evaluation through the predict feature path (whole chains)')
  right.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(png_path, dpi=80)


if __name__ == '__main__':
  main(sys.argv[1], sys.argv[2])
