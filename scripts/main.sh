#!/usr/bin/env bash
# The main job (npm start): set-up, build, then the paper's point on real data: natural training, free adversarial
# training (free-8) and 5-step PGD adversarial training of an MLP on credit-g (1,000 loan applicants, 20
# attributes; fetched from Debian's weka package on first use) for the same 50 natural-equivalent epochs, 3 seeds
# each, then the same PGD-50 evaluation (L2 eps 0.5, 5 restarts) on the whole test split; prints the table and
# writes charts, in runs/credit-g-quick/. A few minutes on lavapipe with 2 cores. A rerun reuses the finished runs
# there (and continues a stopped one); move the folder away to train afresh. Extra arguments go to `advfree experiment`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs
node dist/advfree.mjs experiment --preset credit-g-quick --out runs/credit-g-quick "$@"
