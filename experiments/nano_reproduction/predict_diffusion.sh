#!/usr/bin/env bash
# nano_diffusion through `alphafold-jax predict` on the five nano proteins, scored against the
# references with `alphafold-jax score` (README.md, section "nano_diffusion through predict").
#   experiments/nano_reproduction/predict_diffusion.sh [PARAMS.npz] [OUT_DIR] [SEEDS...]
# Without PARAMS (or with '') the bundled weights (alphafold_jax/weights/nano_diffusion.npz).
# Prints per protein and seed: the first-ranked sample's CA-RMSD / lDDT-Ca / TM-score, the best
# CA-RMSD among the 5 samples (how good the ranking is), and the first-ranked sample's peptide
# C-N and CA-CA distance ranges. ALPHAFOLD_JAX: the command (default: alphafold-jax).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
refs="$here/../../tests/data/structures/nano"
params=${1:-}
out=${2:-/tmp/nano_diffusion_predict}
shift $(( $# > 2 ? 2 : $# ))
seeds=${*:-0 1}
cli=${ALPHAFOLD_JAX:-alphafold-jax}
python=${PYTHON:-python}
for seed in $seeds; do
  dir="$out/seed_$seed"
  start=$(date +%s)
  $cli predict "$here/nano_proteins.fasta" --preset nano_diffusion ${params:+--params "$params"} \
      --seed "$seed" --num-samples 5 --out "$dir" --quiet
  echo "seed $seed: predict wall $(( $(date +%s) - start )) s (5 targets x 5 samples, compiles included)"
  for name in 1CRN 1L2Y 1UBQ 1VII 2GB1; do
    $cli score "$dir/$name.pdb" "$refs/$name.pdb" --json > "$dir/$name.score.json"
  done
  $python - "$dir" "$refs" "$seed" <<'PY'
import glob, json, os, sys
import numpy as np
from alphafold_jax.common import protein
from alphafold_jax.metrics.scoring import score_proteins
out, refs, seed = sys.argv[1:]
read = lambda p: protein.from_pdb_string(open(p).read())
for name in ('1CRN', '1L2Y', '1UBQ', '1VII', '2GB1'):
  ranked = json.load(open(os.path.join(out, f'{name}.score.json')))
  ref = read(os.path.join(refs, f'{name}.pdb'))
  samples = sorted(glob.glob(os.path.join(out, f'{name}.sample_*.pdb')))
  best = min(score_proteins(read(p), ref)['ca_rmsd'] for p in samples)
  x = read(os.path.join(out, f'{name}.pdb')).atom_positions
  cn = np.linalg.norm(x[1:, 0] - x[:-1, 2], axis=-1)  # C(i) - N(i+1)
  caca = np.linalg.norm(x[1:, 1] - x[:-1, 1], axis=-1)
  print(f"{name} seed {seed}: ranked CA-RMSD {ranked['ca_rmsd']:.3f} lDDT-Ca "
        f"{ranked['lddt_ca']:.3f} TM {ranked['tm_score']:.3f} | best of {len(samples)} "
        f"{best:.3f} | C-N {cn.min():.2f}-{cn.max():.2f} (median |d-1.329| "
        f"{np.median(np.abs(cn - 1.329)):.3f}) CA-CA {caca.min():.2f}-{caca.max():.2f}")
PY
done
