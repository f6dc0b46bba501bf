#!/usr/bin/env bash
# bf16 vs fp32 training of nano_ipa: 200 steps from the same random init, the same batches
# (seed 0), fp32 and --bf16; a second fp32 run with seed 1 measures the run-to-run noise.
# One command, from the repository root (the three runs share the 2 cores):
#     bash experiments/bf16/train_curve.sh [OUT_DIR] [STEPS]
# Then: python experiments/bf16/compare_curves.py OUT_DIR  (table + train_curve.png here).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/bf16_curve}
STEPS=${2:-200}
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$HOME/.cache/alphafold_jax/jax_cache}
run() {  # name seed [--bf16]
  local name=$1 seed=$2; shift 2
  rm -rf "$OUT/$name"
  /usr/bin/time -v python -m alphafold_jax.cli train --preset nano_ipa \
      --data tests/data/structures/nano --steps "$STEPS" --out "$OUT/$name" --seed "$seed" \
      --checkpoint-every "$STEPS" --eval-every 0 --no-progress "$@" \
      > "$OUT/$name.log" 2> "$OUT/$name.time"
}
mkdir -p "$OUT"
run fp32_seed0 0 & run bf16_seed0 0 --bf16 & run fp32_seed1 1 &
wait
python experiments/bf16/compare_curves.py "$OUT"
