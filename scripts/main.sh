#!/usr/bin/env bash
# The main job (npm start): set-up, build, then the paper's point in miniature: natural training and free
# adversarial training (free-4) of a WRN-16-1 side by side under the same budget of passes on CIFAR-10 (fetched on
# first use), then the same PGD-20 evaluation of both; prints a two-row table and writes a chart, in
# runs/quickstart/. About 10 minutes on lavapipe with 2 cores. A rerun reuses the finished runs there (and
# continues a stopped one); move the folder away to train afresh. Extra arguments go to `advfree experiment`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs
node dist/advfree.mjs experiment --preset quick --out runs/quickstart "$@"
