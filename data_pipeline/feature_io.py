"""AF2 feature dicts on disk: `features.pkl` as AF2's run_alphafold.py writes it (NumPy only)."""

from __future__ import annotations

import os
import pickle
import tempfile
from typing import Optional

from data_pipeline.errors import FeatureError


def write_features_pickle(features: dict, path: str) -> None:
  """Pickles `features` to `path` atomically (temporary file in the same folder + rename)."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix='.features.', suffix='.tmp', dir=folder)
  try:
    with os.fdopen(fd, 'wb') as f:
      pickle.dump(features, f, protocol=4)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def read_features_pickle(path: str, sequence: Optional[str] = None) -> dict:
  """A features.pkl (ours or AF2's); its sequence must equal `sequence` when given."""
  try:
    with open(path, 'rb') as f:
      features = pickle.load(f)
  except FileNotFoundError:
    raise FeatureError(f'{path}: features file not found') from None
  except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError) as e:
    raise FeatureError(f'{path}: not a readable features pickle ({type(e).__name__})') from None
  missing = [k for k in ('aatype', 'msa', 'deletion_matrix_int', 'sequence')
             if not isinstance(features, dict) or k not in features]
  if missing:
    raise FeatureError(f'{path}: not an AF2 feature dict (missing {", ".join(missing)})')
  if sequence is not None:
    stored = features['sequence'][0]
    stored = stored.decode() if isinstance(stored, bytes) else str(stored)
    if stored != sequence:
      raise FeatureError(f'{path}: its sequence ({len(stored)} residues) is not the target '
                         f'sequence ({len(sequence)} residues)')
  return features
