#!/usr/bin/env bash
# The main job (npm start): set-up, build, then a short free adversarial training run (free-4) of a WRN-16-1 on
# CIFAR-10 (fetched on first use), followed by a PGD-10 evaluation: clean and robust accuracy, and pass counts.
# About 5 minutes on lavapipe with 2 cores. Extra arguments go to `advfree train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs
out=runs/quickstart
rm -rf "$out"
node dist/advfree.mjs train --method free --replays 4 --epochs 8 --train-limit 1500 --test-limit 1000 --batch 128 --out "$out" "$@"
node dist/advfree.mjs eval --checkpoint "$out/model.safetensors" --attack pgd --steps 10 --limit 256
