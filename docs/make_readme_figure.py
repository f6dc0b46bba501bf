"""README's picture of the main job: `docs/crambin_prediction.png`, in one command.

    python docs/make_readme_figure.py [--out docs/crambin_prediction.png] [--predicted DIR]

Runs README's main job as a user does (`alphafold-jax predict tests/data/crambin.fasta --out
<tmp>`: `python -m alphafold_jax.cli` with this repository first on PYTHONPATH, the bundled
weights), then draws the predicted CA trace coloured by pLDDT (the AlphaFold DB bands of
inference/plots.py: > 90 dark blue, 70-90 light blue, 50-70 yellow, < 50 orange) over the
crystal structure 1CRN (thin grey line, superposed on the prediction by Kabsch on CA), projected
on the prediction's two principal axes; nearer residues are drawn larger and on top. Title:
CA-RMSD to 1CRN as `alphafold-jax score` computes it. Runtime: ~30-60 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# pylint: disable=wrong-import-position
from alphafold_jax.common import protein as protein_lib
from alphafold_jax.geometry.alignment import superpose
from alphafold_jax.inference.plots import PLDDT_BANDS
from alphafold_jax.metrics.scoring import score_proteins
from alphafold_jax.metrics.sequence_alignment import correspond

FASTA = ROOT / 'tests' / 'data' / 'crambin.fasta'
CRYSTAL = ROOT / 'tests' / 'data' / 'structures' / 'nano' / '1CRN.pdb'
NAME = 'crambin'
_CA = 1  # atom37 slot


def predict(out: pathlib.Path) -> None:
  """README's main job into `out` (raises with the CLI's stderr when it fails)."""
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in [env.get('PYTHONPATH')] if p])
  command = [sys.executable, '-m', 'alphafold_jax.cli', 'predict', str(FASTA), '--out', str(out),
             '--quiet']
  proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
  if proc.returncode != 0:
    raise SystemExit(f'make_readme_figure.py: predict failed ({proc.returncode}):\n{proc.stderr}')


def band_colours(plddt: np.ndarray) -> list:
  """The AlphaFold DB band colour of each pLDDT value."""
  return [next(colour for lower, colour, _ in PLDDT_BANDS if v > lower or lower == 0.)
          for v in plddt]


def draw(model: protein_lib.Protein, crystal: protein_lib.Protein, plddt: np.ndarray,
         scores: dict, subtitle: str, path: pathlib.Path) -> None:
  # pylint: disable=import-outside-toplevel
  from matplotlib import colors as mcolors
  from matplotlib.cm import ScalarMappable
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.collections import LineCollection
  from matplotlib.figure import Figure
  a, b, _ = correspond(model, crystal, 'auto')
  pred = model.atom_positions[:, _CA].astype(np.float64)  # [L, 3]
  moved, _ = superpose(crystal.atom_positions[b, _CA], model.atom_positions[a, _CA])
  ref = np.asarray(moved, np.float64)  # [N, 3] crystal CA on the prediction
  centre = pred.mean(axis=0)
  _, _, axes = np.linalg.svd(pred - centre, full_matrices=False)  # rows: principal axes
  p2, r2 = (pred - centre) @ axes.T, (ref - centre) @ axes.T  # [L, 3], [N, 3]

  fig = Figure(figsize=(7.0, 5.2), dpi=110)
  FigureCanvasAgg(fig)
  ax = fig.add_subplot(1, 1, 1)
  ax.plot(r2[:, 0], r2[:, 1], color='0.55', lw=1.0, zorder=1, label='crystal 1CRN (superposed)')
  colours = band_colours(plddt)
  depth = (p2[:, 2] - p2[:, 2].min()) / max(np.ptp(p2[:, 2]), 1e-6)  # 0 far .. 1 near
  segments = np.stack([p2[:-1, :2], p2[1:, :2]], axis=1)  # [L-1, 2, 2]
  order = np.argsort(depth[:-1] + depth[1:])
  ax.add_collection(LineCollection(segments[order], colors=[colours[i] for i in order],
                                   linewidths=2.6, zorder=2))
  for i in np.argsort(depth):
    ax.scatter(p2[i, 0], p2[i, 1], s=18 + 40 * depth[i], color=colours[i], edgecolors='black',
               linewidths=0.4, zorder=3 + depth[i])
  for i in (0, len(p2) - 1):
    ax.annotate('N' if i == 0 else 'C', p2[i, :2], xytext=(6, 6), textcoords='offset points',
                fontsize=9, fontweight='bold', zorder=10)
  ax.plot([], [], color=PLDDT_BANDS[1][1], lw=2.6, label='prediction (CA trace, pLDDT colours)')
  ax.legend(loc='lower left', fontsize=8, frameon=False)
  ax.set_aspect('equal')
  ax.margins(0.08)
  ax.set_xlabel('principal axis 1 (\u00c5)')
  ax.set_ylabel('principal axis 2 (\u00c5)')
  ax.set_title(f"{subtitle}\n{NAME}, {len(pred)} residues: CA-RMSD {scores['ca_rmsd']:.2f} "
               f"\u00c5 to crystal 1CRN, TM-score {scores['tm_score']:.2f}", fontsize=10)
  bounds = [0., 50., 70., 90., 100.]
  cmap = mcolors.ListedColormap([c for _, c, _ in reversed(PLDDT_BANDS)])
  mappable = fig.colorbar(ScalarMappable(norm=mcolors.BoundaryNorm(bounds, cmap.N), cmap=cmap),
                          ax=ax, fraction=0.035, pad=0.03, shrink=0.75)
  mappable.set_ticks([25, 60, 80, 95])
  mappable.set_ticklabels(['<50', '50-70', '70-90', '>90'])
  mappable.set_label('pLDDT')
  fig.tight_layout()
  fig.savefig(path, format='png')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--out', default=str(ROOT / 'docs' / 'crambin_prediction.png'))
  parser.add_argument('--predicted', default=None, metavar='DIR',
                      help='draw an existing `predict ... --out DIR` of crambin instead of '
                           'running predict')
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory(prefix='readme_figure_') as tmp:
    out = pathlib.Path(args.predicted) if args.predicted else pathlib.Path(tmp) / 'out'
    if not args.predicted:
      predict(out)
    model = protein_lib.from_file(out / f'{NAME}.pdb')
    conf = json.loads((out / f'{NAME}.confidence.json').read_text())
    summary = json.loads((out / 'summary.json').read_text())
  crystal = protein_lib.from_file(CRYSTAL)
  scores = score_proteins(model, crystal)
  subtitle = (f"alphafold-jax predict tests/data/crambin.fasta  ({summary['preset']}, mean "
              f"pLDDT {conf['mean_plddt']:.1f})")
  draw(model, crystal, np.asarray(conf['plddt']), scores, subtitle, pathlib.Path(args.out))
  size = os.path.getsize(args.out)
  print(f"wrote {args.out} ({size / 1024:.0f} KB): CA-RMSD {scores['ca_rmsd']:.3f} A, "
        f"TM-score {scores['tm_score']:.3f}, mean pLDDT {conf['mean_plddt']:.2f}")
  return 0


if __name__ == '__main__':
  sys.exit(main())
