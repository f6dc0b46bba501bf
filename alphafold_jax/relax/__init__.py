"""Amber relax of predicted structures (AF2's protocol; optional extra `alphafold_jax[relax]`:
OpenMM 8.6 + PDBFixer 1.12).

    from alphafold_jax.relax import relax_protein
    relaxed_pdb, info = relax_protein(prot)   # info: energies, RMSD to input, violations

Importing this package never needs OpenMM; a relax without it raises RelaxUnavailableError
(`pip install 'alphafold_jax[relax]'`). CLI wiring: cli_support.py.
"""

from alphafold_jax.relax.checks import violation_report
from alphafold_jax.relax.errors import (
    INSTALL_HINT, RelaxError, RelaxUnavailableError, is_available)
from alphafold_jax.relax.relax import RelaxConfig, heavy_atom_rmsd, relax_protein

__all__ = ['INSTALL_HINT', 'RelaxConfig', 'RelaxError', 'RelaxUnavailableError',
           'heavy_atom_rmsd', 'is_available', 'relax_protein', 'violation_report']
