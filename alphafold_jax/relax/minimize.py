"""One restrained Amber minimisation with OpenMM (AF2 relax, Suppl. Sec. 1.8.6).

Force field Amber99sb (`amber99sb.xml`), no cut-off, bonds to hydrogen constrained. AF2 runs in
vacuum (`solvent='none'`, the default); `solvent='obc'` adds the OBC implicit-solvent model
(`amber99_obc.xml`). A harmonic restraint 0.5 k |x - x0|^2 holds every heavy atom
(`restraint_set='non_hydrogen'`, or only CA with `'c_alpha'`) to its starting position, except
atoms of the (zero-based) `exclude_residues`. L-BFGS runs until the RMS force is below
`tolerance` or `max_iterations` steps (0: no limit).

Units at this boundary: positions Angstrom, energies kcal/mol, stiffness kcal/mol/A^2,
tolerance kcal/mol/A (OpenMM works in nm and kJ/mol; converted here).
"""

import io
from typing import Collection, Dict

import numpy as np

from alphafold_jax.relax.errors import RelaxError, backend

FORCE_FIELDS = {'none': ('amber99sb.xml',), 'obc': ('amber99sb.xml', 'amber99_obc.xml')}
RESTRAINT_SETS = ('non_hydrogen', 'c_alpha')


def _restrained(atom, restraint_set: str) -> bool:
  if restraint_set == 'c_alpha':
    return atom.name == 'CA'
  return atom.element is None or atom.element.symbol not in ('H', 'D')


def minimize(pdb_str: str, *, stiffness: float, tolerance: float, max_iterations: int,
             exclude_residues: Collection[int] = (), restraint_set: str = 'non_hydrogen',
             solvent: str = 'none', platform: str = 'CPU') -> Dict:
  """Minimises the structure of `pdb_str` (with hydrogens).

  Returns {'initial_energy', 'final_energy' (kcal/mol), 'initial_positions', 'positions'
  ([num_atoms, 3] Angstrom), 'is_heavy' [num_atoms] bool, 'pdb' (minimised, ids kept),
  'num_restrained'}. OpenMM errors (no template for a residue, NaN coordinates) propagate.
  """
  if restraint_set not in RESTRAINT_SETS:
    raise ValueError(f'restraint_set must be one of {RESTRAINT_SETS}, got {restraint_set!r}')
  if solvent not in FORCE_FIELDS:
    raise ValueError(f'solvent must be one of {tuple(FORCE_FIELDS)}, got {solvent!r}')
  b = backend()
  mm, app, unit = b.openmm, b.app, b.unit
  kcal, angstrom = unit.kilocalories_per_mole, unit.angstroms
  pdb = app.PDBFile(io.StringIO(pdb_str))
  system = app.ForceField(*FORCE_FIELDS[solvent]).createSystem(
      pdb.topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds)

  num_restrained = 0
  if stiffness > 0:
    restraint = mm.CustomExternalForce('0.5 * k * ((x-x0)^2 + (y-y0)^2 + (z-z0)^2)')
    restraint.addGlobalParameter(
        'k', (stiffness * kcal / angstrom**2).value_in_unit(
            unit.kilojoules_per_mole / unit.nanometers**2))
    for name in ('x0', 'y0', 'z0'):
      restraint.addPerParticleParameter(name)
    excluded = set(int(i) for i in exclude_residues)
    reference = pdb.positions.value_in_unit(unit.nanometers)
    for atom in pdb.topology.atoms():
      if atom.residue.index not in excluded and _restrained(atom, restraint_set):
        restraint.addParticle(atom.index, list(reference[atom.index]))
    num_restrained = restraint.getNumParticles()
    system.addForce(restraint)

  integrator = mm.VerletIntegrator(0.001)  # unused: minimisation only
  context = mm.Context(system, integrator, mm.Platform.getPlatformByName(platform))
  context.setPositions(pdb.positions)
  start = context.getState(getEnergy=True, getPositions=True)
  mm.LocalEnergyMinimizer.minimize(
      context, (tolerance * kcal / angstrom).value_in_unit(
          unit.kilojoules_per_mole / unit.nanometers), int(max_iterations))
  end = context.getState(getEnergy=True, getPositions=True)
  positions = end.getPositions(asNumpy=True).value_in_unit(angstrom)
  if not np.all(np.isfinite(positions)):
    raise RelaxError('minimisation produced non-finite coordinates')
  out = io.StringIO()
  app.PDBFile.writeFile(pdb.topology, end.getPositions(), out, keepIds=True)
  return {
      'initial_energy': float(start.getPotentialEnergy().value_in_unit(kcal)),
      'final_energy': float(end.getPotentialEnergy().value_in_unit(kcal)),
      'initial_positions': np.asarray(start.getPositions(asNumpy=True).value_in_unit(angstrom)),
      'positions': np.asarray(positions),
      'is_heavy': np.array([_restrained(a, 'non_hydrogen') for a in pdb.topology.atoms()]),
      'pdb': out.getvalue(),
      'num_restrained': int(num_restrained),
  }
