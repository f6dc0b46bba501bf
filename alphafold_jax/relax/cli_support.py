"""CLI hook for `alphafold-jax predict --relax none|best|all` (wired by cli/predict.py).

    add_relax_argument(parser)                 # --relax {none,best,all}, default none
    check_relax_mode(args.relax)               # before any model work: RelaxUnavailableError
    numbers = relax_outputs(out_dir, {'T1': ['T1.pdb', 'T1.sample_1.pdb']}, args.relax)

`relax_outputs` reads each chosen unrelaxed structure (pLDDT B-factors), relaxes it and writes
`relaxed_<stem>.pdb` next to it atomically (temporary file + os.replace). A failure on one
structure leaves its unrelaxed files alone and is reported in the returned dict; the other
structures still relax. Only a missing extra (RelaxUnavailableError) is raised.
"""

import argparse
import os
import tempfile
from typing import Dict, List, Mapping, Optional, Sequence

from alphafold_jax.common import protein as protein_lib
from alphafold_jax.relax.errors import RelaxUnavailableError, backend
from alphafold_jax.relax.relax import RelaxConfig, relax_protein

RELAX_MODES = ('none', 'best', 'all')
RELAXED_PREFIX = 'relaxed_'
# Numbers copied from relax_protein's info into the JSON entry of each relaxed structure.
_REPORTED = ('initial_energy', 'final_energy', 'rmsd_to_input', 'violations_before',
             'violations_after', 'outer_iterations', 'attempts', 'time_s')


def add_relax_argument(parser: argparse.ArgumentParser, default: str = 'none') -> None:
  """Adds --relax {none,best,all}."""
  parser.add_argument(
      '--relax', choices=RELAX_MODES, default=default,
      help='Amber-relax the best sample of each target (best) or every sample (all), writing '
           f"relaxed_NAME.pdb next to NAME.pdb; needs pip install 'alphafold_jax[relax]' "
           f'(default: {default})')


def check_relax_mode(mode: str) -> None:
  """ValueError for an unknown mode; RelaxUnavailableError when a relax is asked for without
  OpenMM/PDBFixer. Call it with the other argument checks, before any model work."""
  if mode not in RELAX_MODES:
    raise ValueError(f'--relax must be one of {", ".join(RELAX_MODES)}, got {mode!r}')
  if mode != 'none':
    backend()


def relaxed_name(file_name: str) -> str:
  """'dir/T1.sample_2.pdb' -> 'dir/relaxed_T1.sample_2.pdb' (always .pdb)."""
  head, tail = os.path.split(file_name)
  stem = tail[:-len('.pdb')] if tail.endswith('.pdb') else os.path.splitext(tail)[0]
  return os.path.join(head, f'{RELAXED_PREFIX}{stem}.pdb')


def _write_atomically(path: str, text: str) -> None:
  fd, tmp = tempfile.mkstemp(prefix='.relax-', suffix='.pdb.tmp', dir=os.path.dirname(path))
  try:
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def relax_file(out_dir: str, file_name: str, config: Optional[RelaxConfig] = None) -> Dict:
  """Relaxes OUT_DIR/file_name into OUT_DIR/relaxed_<stem>.pdb. Returns the JSON entry:
  {'file', 'relaxed_file', numbers...} or {'file', 'relaxed_file': None, 'error'}."""
  entry = {'file': file_name}
  try:
    prot = protein_lib.from_file(os.path.join(out_dir, file_name))
    pdb_str, info = relax_protein(prot, config)
    target = relaxed_name(file_name)
    _write_atomically(os.path.join(out_dir, target), pdb_str)
  except RelaxUnavailableError:
    raise
  except Exception as e:  # pylint: disable=broad-except  # one bad structure must not stop the run
    entry.update(relaxed_file=None, error=f'{type(e).__name__}: {e}')
    return entry
  entry['relaxed_file'] = target
  entry.update({key: info[key] for key in _REPORTED})
  entry['rmsd_to_input'] = round(entry['rmsd_to_input'], 4)
  for key in ('initial_energy', 'final_energy'):
    entry[key] = round(entry[key], 3)
  return entry


def relax_outputs(out_dir: str, ranked_files: Mapping[str, Sequence[str]], mode: str,
                  config: Optional[RelaxConfig] = None, log=None) -> Dict[str, List[Dict]]:
  """Relaxes the written structures of each target.

  Args:
    out_dir: directory holding the unrelaxed files (e.g. predict's temporary output dir).
    ranked_files: target name -> its structure files (.pdb or .cif, relative to out_dir),
      best first (predict's ranking order).
    mode: 'none' (nothing, returns {}), 'best' (first file of each target) or 'all'.
    config: RelaxConfig (AF2's settings by default).
    log: optional logging.Logger for one line per structure.

  Returns:
    {target name: [entry per relaxed file, ranking order]}, each entry as relax_file's;
    JSON-ready, for the per-target summary.
  """
  check_relax_mode(mode)
  if mode == 'none':
    return {}
  results = {}
  for name, files in ranked_files.items():
    chosen = list(files)[:1] if mode == 'best' else list(files)
    results[name] = []
    for file_name in chosen:
      entry = relax_file(out_dir, file_name, config)
      results[name].append(entry)
      if log is not None:
        if entry['relaxed_file']:
          log.info('relaxed %s: %d -> %d residue violation(s), RMSD to input %.3f A, %.1f s',
                   file_name, entry['violations_before'], entry['violations_after'],
                   entry['rmsd_to_input'], entry['time_s'])
        else:
          log.warning('relax of %s failed (unrelaxed file kept): %s', file_name, entry['error'])
  return results
