#!/usr/bin/env bash
# The MLP size search for the tabular datasets: natural training (Adam, lr 1e-3, cosine, batch 128, 50 epochs) on
# 80% of each training split, evaluated on the held-out 20% (train --validation 0.2); the test split is not used.
set -u
CLI=${CLI:-/work/wt/runner/dist/advfree.mjs}
cd "$(dirname "$0")"
for d in letter spambase credit-g lending-club; do
  for m in mlp-64x2 mlp-64x3 mlp-256x2 mlp-256x3 mlp-512x2 mlp-512x3; do
    out=$d/$m
    [ -f "$out/model.safetensors" ] && continue
    rm -rf "$out"; mkdir -p "$d"
    node "$CLI" train --data $d --model $m --optimizer adam --lr 1e-3 --schedule cosine --batch 128 --weight-decay 0 --epochs 50 \
      --validation 0.2 --seed 0 --log-every 1000 --out "$out" > "$out.log" 2>&1
  done
done
