#!/usr/bin/env bash
# nano_diffusion through `alphafold-jax predict` on the five nano proteins, scored against the
# crystal/NMR references (README.md, section "nano_diffusion through predict").
#   experiments/nano_reproduction/predict_diffusion.sh [PARAMS.npz] [OUT_DIR] [SEEDS...]
# Without PARAMS the bundled weights (alphafold_jax/weights/nano_diffusion.npz) are used.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
params=${1:-}
out=${2:-/tmp/nano_diffusion_predict}
shift $(( $# > 2 ? 2 : $# ))
seeds=${*:-0 1}
cli=${ALPHAFOLD_JAX:-alphafold-jax}
for seed in $seeds; do
  dir="$out/seed_$seed"
  start=$(date +%s)
  $cli predict "$here/nano_proteins.fasta" --preset nano_diffusion ${params:+--params "$params"} \
      --seed "$seed" --num-samples 5 --out "$dir" --quiet
  echo "seed $seed: predict wall $(( $(date +%s) - start )) s"
  for name in 1CRN 1L2Y 1UBQ 1VII 2GB1; do
    $cli score "$dir/$name.pdb" "$here/../../tests/data/structures/nano/$name.pdb" --json \
        > "$dir/$name.score.json"
    printf '%s seed %s: ' "$name" "$seed"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(' '.join(f'{k} {d[k]:.3f}' for k in ('ca_rmsd','lddt_ca','tm_score') if k in d))" "$dir/$name.score.json"
  done
done
