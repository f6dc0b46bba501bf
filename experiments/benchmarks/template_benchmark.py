"""Template featurisation benchmark: 20 hmmsearch-style hits -> AF2 template features.

Command (from the repository root):

    python experiments/benchmarks/template_benchmark.py [--repeats 3]

Setup (temporary folder; hits carry decreasing sum_probs, hhsearch-featurizer mode): the shared structures (tests/data/structures/extra: 102M.cif and the
22 PDB files written as template mmCIFs with `data_pipeline.templates.mmcif_writer`). Query:
myoglobin 102M (154 residues). 20 hits: the 102M chain 4 times under different ids (two of them
with 3 point mutations in the mmCIF, so they need kalign realignment), and 16 other structures
each aligned to a 100-residue window of the query (ungapped, arbitrary register: featurisation
cost does not depend on the alignment being meaningful).

Timed: a fresh `TemplateFeaturizer(..., max_hits=20).get_templates(query, hits)` per repeat, i.e.
mmCIF reading + parsing (Biopython) + realignment + feature assembly for all 20 hits (no mmCIF
cache carried over between repeats). Duplicate filters are off so that all 20 are featurised.

Expected runtime: ~10 s. Result: see experiments/benchmarks/README.md "Sequence search and
template featurisation".
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

# pylint: disable=wrong-import-position
from alphafold_jax.common import residues
from alphafold_jax.common.structure_io import parse_chain, read_structure_text
from data_pipeline.parsers import parse_a3m
from data_pipeline.templates import PrefilterSettings, TemplateFeaturizer, TemplateHit
from data_pipeline.templates.mmcif_writer import chain_to_mmcif

EXTRA = os.path.join(ROOT, 'tests', 'data', 'structures', 'extra')
A3M = os.path.join(ROOT, 'tests', 'data', 'msa', 'myoglobin_102M_A', '102m_A.a3m')


def _hit(index, name, query, q0, template, t0, length):
  qa, ta = query[q0:q0 + length], template[t0:t0 + length]
  return TemplateHit(index=index, name=name, aligned_cols=length, sum_probs=100.0 - index, query=qa,
                     hit_sequence=ta, indices_query=list(range(q0, q0 + length)),
                     indices_hit=list(range(t0, t0 + length)))


def build(folder: str, query: str):
  hits = []
  myo = parse_chain(*read_structure_text(os.path.join(EXTRA, '102M.cif')))
  myo_seq = ''.join(residues.restypes_with_x[a] for a in myo['aatype'])
  mutated = dict(myo, aatype=myo['aatype'].copy())
  mutated['aatype'][[20, 60, 100]] = 0
  shutil.copy(os.path.join(EXTRA, '102M.cif'), os.path.join(folder, '102m.cif'))
  for pdb_id, arrays in (('1my1', myo), ('1my2', mutated), ('1my3', mutated)):
    with open(os.path.join(folder, f'{pdb_id}.cif'), 'w') as f:
      f.write(chain_to_mmcif(arrays, pdb_id, '2000-01-01'))
  for i, pdb_id in enumerate(('102m', '1my1', '1my2', '1my3')):
    hits.append(_hit(len(hits) + 1, f'{pdb_id}_A', query, 0, myo_seq, 0, len(query)))
  others = sorted(f for f in os.listdir(EXTRA) if f.endswith('.pdb'))
  for name in others[:16]:
    arrays = parse_chain(*read_structure_text(os.path.join(EXTRA, name)))
    seq = ''.join(residues.restypes_with_x[a] for a in arrays['aatype'])
    pdb_id = name[:4].lower()
    with open(os.path.join(folder, f'{pdb_id}.cif'), 'w') as f:
      f.write(chain_to_mmcif(arrays, pdb_id, '1995-01-01'))
    length = min(100, len(seq))
    hits.append(_hit(len(hits) + 1, f'{pdb_id}_A', query, 20, seq, 0, length))
  return hits


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()
  query = parse_a3m(open(A3M).read()).sequences[0]
  with tempfile.TemporaryDirectory() as folder:
    hits = build(folder, query)
    times = []
    for _ in range(args.repeats):
      # hhsearch mode: no template_sequence de-duplication, so all 20 hits are featurised.
      featurizer = TemplateFeaturizer(folder, '2020-01-01', max_hits=20, kind='hhsearch',
                                      prefilter=PrefilterSettings(1.0, 0.0, 0))
      t = time.perf_counter()
      result = featurizer.get_templates(query, hits)
      times.append(time.perf_counter() - t)
  realigned = sum('realigned' in w for w in result.warnings)
  print(f'{len(hits)} hits -> {len(result.kept)} templates ({realigned} realigned with kalign): '
        f'median {statistics.median(times):.2f} s (runs: {", ".join(f"{x:.2f}" for x in times)})')


if __name__ == '__main__':
  main()
