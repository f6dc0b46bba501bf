"""Confidence plots: NAME.plddt.png (per-residue pLDDT) and NAME.pae.png (PAE heat map).

Uses matplotlib's object-oriented API with the Agg canvas directly (no pyplot, so no global
figure state and no display needed). Colours follow the AlphaFold DB conventions: pLDDT bands
at 90 / 70 / 50, PAE from dark green (0 A) to white (max PAE).
"""

from __future__ import annotations

import os
from typing import List, Optional

import numpy as np

# (lower bound, colour, label) of the AlphaFold DB pLDDT bands.
PLDDT_BANDS = ((90., '#0053D6', 'very high (>90)'), (70., '#65CBF3', 'confident (70-90)'),
               (50., '#FFDB13', 'low (50-70)'), (0., '#FF7D45', 'very low (<50)'))


def _figure(width: float, height: float):
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=import-outside-toplevel
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  fig = Figure(figsize=(width, height), dpi=100)
  FigureCanvasAgg(fig)
  return fig


def plot_plddt(plddt: np.ndarray, path: str, title: str = '') -> None:
  """Line plot of pLDDT [L] against residue number (1-based) over the confidence bands."""
  plddt = np.asarray(plddt, np.float64)  # [L]
  residues = np.arange(1, len(plddt) + 1)
  fig = _figure(7., 3.5)
  ax = fig.add_subplot(1, 1, 1)
  upper = 100.
  for lower, colour, label in PLDDT_BANDS:
    ax.axhspan(lower, upper, color=colour, alpha=0.15, lw=0, label=label)
    upper = lower
  ax.plot(residues, plddt, color='black', lw=1.2)
  ax.set_xlim(0.5, len(plddt) + 0.5)
  ax.set_ylim(0, 100)
  ax.set_xlabel('Residue')
  ax.set_ylabel('pLDDT')
  ax.set_title(f'{title}  mean pLDDT {np.mean(plddt):.1f}'.strip())
  # legend beside the axes: low-confidence curves run along the bottom band
  ax.legend(loc='center left', bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
  fig.tight_layout()
  fig.savefig(path, format='png')


def plot_pae(pae: np.ndarray, path: str, max_pae: Optional[float] = None, title: str = '') -> None:
  """Heat map of the PAE matrix [L, L] (row: aligned residue, column: scored residue)."""
  pae = np.asarray(pae, np.float64)  # [L, L]
  vmax = float(max_pae) if max_pae is not None else float(np.max(pae))
  fig = _figure(5.5, 4.6)
  ax = fig.add_subplot(1, 1, 1)
  extent = (0.5, pae.shape[1] + 0.5, pae.shape[0] + 0.5, 0.5)
  image = ax.imshow(pae, cmap='Greens_r', vmin=0., vmax=vmax, extent=extent,
                    interpolation='nearest')
  colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
  colorbar.set_label('Expected position error (A)')
  ax.set_xlabel('Scored residue')
  ax.set_ylabel('Aligned residue')
  ax.set_title(f'{title}  predicted aligned error'.strip())
  fig.tight_layout()
  fig.savefig(path, format='png')


def write_plots(directory: str, name: str, sample, title: Optional[str] = None) -> List[str]:
  """NAME.plddt.png and (for PAE models) NAME.pae.png; returns the file names."""
  title = name if title is None else title
  files = [f'{name}.plddt.png']
  plot_plddt(sample.plddt, os.path.join(directory, files[0]), title)
  if sample.predicted_aligned_error is not None:
    files.append(f'{name}.pae.png')
    plot_pae(sample.predicted_aligned_error, os.path.join(directory, files[1]),
             sample.max_predicted_aligned_error, title)
  return files
