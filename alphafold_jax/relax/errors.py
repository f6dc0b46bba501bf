"""Errors of the relax package and the one place that imports OpenMM and PDBFixer.

OpenMM and PDBFixer are the optional extra `alphafold_jax[relax]`: importing
`alphafold_jax.relax` never needs them; `backend()` imports them when a relax runs and turns
their absence into `RelaxUnavailableError` with a one-line install hint.
"""

import types

INSTALL_HINT = "pip install 'alphafold_jax[relax]'"


class RelaxUnavailableError(ImportError):
  """OpenMM or PDBFixer (the `relax` extra) is not installed."""


class RelaxError(ValueError):
  """The relax of one structure failed (bad input, no force-field template, minimiser error)."""


def backend() -> types.SimpleNamespace:
  """openmm, openmm.app, openmm.unit and pdbfixer, or RelaxUnavailableError (one line)."""
  # pylint: disable=import-outside-toplevel
  missing = []
  try:
    import openmm
    from openmm import app, unit
  except ImportError:
    missing.append('openmm')
  try:
    import pdbfixer
  except ImportError:
    missing.append('pdbfixer')
  if missing:
    raise RelaxUnavailableError(
        f'Amber relax needs OpenMM and PDBFixer ({" and ".join(missing)} not installed): '
        f'{INSTALL_HINT}')
  return types.SimpleNamespace(openmm=openmm, app=app, unit=unit, pdbfixer=pdbfixer)


def is_available() -> bool:
  """True when OpenMM and PDBFixer import."""
  try:
    backend()
  except RelaxUnavailableError:
    return False
  return True
