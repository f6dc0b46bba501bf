"""Optional HH-suite binaries: hhblits (BFD + UniRef30 -> A3M) and hhsearch (pdb70 -> .hhr).

Used only when the binary is on PATH (Debian/Ubuntu package `hhsuite`) and the database is
given; `available('hhblits')` says whether it is. Flags are AF2 v2.3's
(`alphafold.data.tools.hhblits` / `hhsearch`):

  hhblits -i Q.fasta -cpu N -oa3m OUT.a3m -o /dev/null -n 3 -e 0.001 -maxseq 1000000
          -realign_max 100000 -maxfilt 100000 -min_prefilter_hits 1000 -d DB [-d DB ...]
  hhsearch -i Q.a3m -o OUT.hhr -maxseq 1000000 -d PDB70

Failures raise `SearchError` naming the tool, database and the last stderr line.
"""

import os
import shutil
import subprocess
import tempfile
from typing import Optional, Sequence

from data_pipeline.errors import SearchError


def available(tool: str) -> Optional[str]:
  """Path of the binary, or None."""
  return shutil.which(tool)


def _run(cmd, tool: str, databases: Sequence[str]) -> None:
  result = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if result.returncode:
    last = (result.stderr.strip().splitlines() or ['(no stderr)'])[-1]
    raise SearchError(f'{tool} failed on {", ".join(databases)} (exit {result.returncode}): '
                      f'{last[:200]}')


def _binary(tool: str) -> str:
  binary = available(tool)
  if binary is None:
    raise SearchError(f'{tool} not found on PATH (install HH-suite, e.g. apt install hhsuite)')
  return binary


def hhblits(query_name: str, query_sequence: str, databases: Sequence[str], cpus: int = 2) -> str:
  """A3M text of an hhblits search (3 iterations) against the HH-suite databases."""
  binary = _binary('hhblits')
  for db in databases:
    if not any(os.path.exists(db + suffix) for suffix in ('_hhm.ffindex', '_a3m.ffindex',
                                                            '_cs219.ffindex')):
      raise SearchError(f'hhblits database {db}: no {db}_a3m.ffindex / _hhm.ffindex found')
  with tempfile.TemporaryDirectory() as tmp:
    query_path, out_path = os.path.join(tmp, 'query.fasta'), os.path.join(tmp, 'out.a3m')
    with open(query_path, 'w') as f:
      f.write(f'>{query_name}\n{query_sequence}\n')
    cmd = [binary, '-i', query_path, '-cpu', str(cpus), '-oa3m', out_path, '-o', os.devnull,
           '-n', '3', '-e', '0.001', '-maxseq', '1000000', '-realign_max', '100000',
           '-maxfilt', '100000', '-min_prefilter_hits', '1000']
    for db in databases:
      cmd += ['-d', db]
    _run(cmd, 'hhblits', databases)
    with open(out_path) as f:
      return f.read()


def hhsearch(query_a3m: str, pdb70: str) -> str:
  """.hhr text of an hhsearch of the query alignment against pdb70."""
  binary = _binary('hhsearch')
  with tempfile.TemporaryDirectory() as tmp:
    query_path, out_path = os.path.join(tmp, 'query.a3m'), os.path.join(tmp, 'out.hhr')
    with open(query_path, 'w') as f:
      f.write(query_a3m)
    _run([binary, '-i', query_path, '-o', out_path, '-maxseq', '1000000', '-d', pdb70],
         'hhsearch', [pdb70])
    with open(out_path) as f:
      return f.read()
