#!/usr/bin/env bash
# AF2's initial-training recipe (`tiny_af2_initial`: Suppl. 1.11 / Table 4 settings at the
# `tiny` widths, crop 32) for 30 minutes on the shared structure + real MSA pairs
# (102M / myoglobin, 1EGF / EGF, 1XNB / xylanase; 102M also with a template folder).
# One command, from the repository root:
#     bash experiments/af2_initial/run.sh [OUT_DIR] [MINUTES]
# Writes OUT_DIR (default runs/af2_initial) and copies the curve, metrics and evaluation here.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/af2_initial}
MINUTES=${2:-30}
DATA=$OUT.data
rm -rf "$DATA" && mkdir -p "$DATA"
for pair in 102M.cif:myoglobin_102M_A 1EGF.pdb:egf_1A3P_A 1XNB.pdb:xylanase_6KWC_1; do
  structure=${pair%%:*}; msa=${pair##*:}; stem=${structure%%.*}
  cp "tests/data/structures/extra/$structure" "$DATA/"
  mkdir -p "$DATA/$stem" && cp -r "tests/data/msa/$msa/." "$DATA/$stem/"
done
mkdir -p "$DATA/102M/templates" && cp tests/data/structures/extra/102M.cif "$DATA/102M/templates/"
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$HOME/.cache/alphafold_jax/jax_cache}
python -m alphafold_jax.cli train --preset tiny_af2_initial --data "$DATA" --steps 100000 \
    --out "$OUT" --checkpoint-every 200 --eval-every 200 --time-limit "$MINUTES" --no-progress
HERE=experiments/af2_initial
python experiments/af2_initial/plot.py "$OUT/metrics.jsonl" "$HERE/curves.png"
cp "$OUT/eval.json" "$HERE/eval.json"
python - "$OUT/metrics.jsonl" "$HERE/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
train = [r for r in rows if r.get('kind') == 'train']
keep = [r for i, r in enumerate(train) if i % 10 == 0 or r is train[-1]]
keep += [r for r in rows if r.get('kind') != 'train']
with open(sys.argv[2], 'w') as f:
  for r in sorted(keep, key=lambda r: (r.get('step', 0), r.get('kind') != 'train')):
    f.write(json.dumps(r) + '\n')
PY
