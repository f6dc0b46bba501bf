"""Sequence search benchmark: one 150-residue query against a 10,000-sequence database.

Command (from the repository root, 2 CPU cores):

    python experiments/benchmarks/search_benchmark.py [--cpus 2] [--repeats 3] [--stream]

Database (built in a temporary folder, nothing downloaded): the 826 distinct ungapped rows of
the shared myoglobin A3M (tests/data/msa/myoglobin_102M_A/102m_A.a3m; true homologues), the
same rows shuffled (decoys) and random sequences with UniProt amino-acid frequencies (80-300
residues) up to 10,000 records. Query: the first 150 residues of myoglobin 102M.

Timed: `data_pipeline.search.hmmer.jackhmmer` with AF2's settings (-N 1, -E/--incE 1e-4,
--F1 5e-4 --F2 5e-5 --F3 5e-7, 10,000-hit cap), database already loaded (first call loads it;
its time is reported separately), then the template search (hmmbuild --hand + hmmsearch of the
jackhmmer alignment against the same file as if it were pdb_seqres).

Expected runtime: ~15 s in all. Result (2026-12-03, 2 shared cores, pyhmmer 0.12.3): see
experiments/benchmarks/README.md "Sequence search and template featurisation".
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

# pylint: disable=wrong-import-position
from data_pipeline.parsers import parse_a3m
from data_pipeline.search import databases, hmmer
from data_pipeline.templates.hits import stockholm_rows

A3M = os.path.join(ROOT, 'tests', 'data', 'msa', 'myoglobin_102M_A', '102m_A.a3m')
# UniProtKB/Swiss-Prot amino-acid composition (%), for the random filler sequences.
FREQS = dict(A=8.25, R=5.53, N=4.06, D=5.45, C=1.37, Q=3.93, E=6.75, G=7.07, H=2.27, I=5.96,
             L=9.66, K=5.84, M=2.42, F=3.86, P=4.70, S=6.56, T=5.34, W=1.08, Y=2.92, V=6.87)


def build_database(path: str, size: int = 10000, seed: int = 0) -> int:
  """Writes the database; returns the number of true homologues in it."""
  rng = random.Random(seed)
  records = open(A3M).read().split('>')[1:]
  homologues, seen = [], set()
  for record in records[1:]:
    seq = ''.join(c for c in record.partition('\n')[2] if c.isalpha()).upper()
    if seq not in seen:
      seen.add(seq)
      homologues.append(seq)
  letters, weights = zip(*FREQS.items())
  with open(path, 'w') as f:
    n = 0
    for i, seq in enumerate(homologues):
      f.write(f'>hom{i}\n{seq}\n>decoy{i}\n{"".join(rng.sample(seq, len(seq)))}\n')
      n += 2
    while n < size:
      length = rng.randint(80, 300)
      f.write(f'>rand{n}\n{"".join(rng.choices(letters, weights, k=length))}\n')
      n += 1
  return len(homologues)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--cpus', type=int, default=2)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--stream', action='store_true',
                      help='search from disk (SequenceFile) as for databases > 512 MiB')
  args = parser.parse_args()
  if args.stream:
    databases.STREAM_MIN_BYTES = 0
  query = parse_a3m(open(A3M).read()).sequences[0][:150]
  with tempfile.TemporaryDirectory() as tmp:
    db = os.path.join(tmp, 'db.fasta')
    num_hom = build_database(db)
    t = time.perf_counter()
    block = databases.load_database(db)
    load_s = time.perf_counter() - t
    times, sto = [], ''
    for _ in range(args.repeats):
      t = time.perf_counter()
      sto = hmmer.jackhmmer('query', query, db, hmmer.UNIREF_MAX_HITS, cpus=args.cpus)
      times.append(time.perf_counter() - t)
    names = {n.split('/')[0] for n in stockholm_rows(sto)[0][1:]}
    found = sum(n.startswith('hom') for n in names)
    false = sum(not n.startswith('hom') for n in names)
    t = time.perf_counter()
    hits = hmmer.hmmsearch_templates(sto, db, cpus=args.cpus)
    template_s = time.perf_counter() - t
  print(f'database: {len(block)} sequences ({num_hom} homologues), load {load_s:.2f} s')
  print(f'jackhmmer 150-residue query, cpus={args.cpus}: median {statistics.median(times):.2f} s '
        f'(runs: {", ".join(f"{x:.2f}" for x in times)}); homologues found {found}/{num_hom}, '
        f'non-homologues found {false}')
  print(f'template search (hmmbuild --hand + hmmsearch, same 10,000 sequences): '
        f'{template_s:.2f} s, {len(stockholm_rows(hits)[0])} domains')


if __name__ == '__main__':
  main()
