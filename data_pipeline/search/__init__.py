"""Sequence search for AF2's input pipeline (pyhmmer in process; HH-suite binaries optional).

  databases.py   FASTA database -> pyhmmer digital block (checked, cached)
  hmmer.py       jackhmmer (AF2 settings, hit caps); hmmbuild + hmmsearch template search
  hhsuite.py     hhblits / hhsearch binaries, used when on PATH
  stockholm.py   Stockholm writing, truncation, de-duplication, empty-column removal
  pipeline.py    searches -> AF2 `msas/` layout (precomputed reuse) -> raw features
"""

from data_pipeline.search.pipeline import (SearchSettings, check_settings, run_pipeline,
                                           run_searches)

__all__ = ['SearchSettings', 'check_settings', 'run_pipeline', 'run_searches']
