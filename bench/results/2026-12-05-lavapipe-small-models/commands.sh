#!/usr/bin/env bash
# The exact commands of this report, run once under /work/tools/quiet (background experiments paused, no other
# test or build running): the models suite and the WRN-16-1 natural step's kernel table on this branch, then the
# WRN-16-1 natural step of main (BASE, a worktree of main at the commit named in report.md) and of this branch
# alternating, three processes each, for the no-regression ratio (ab.tsv: one line per process).
set -euo pipefail
PERF=${PERF:-/work/wt/perf}
BASE=${BASE:-/tmp/perf-base}
OUT=$PERF/bench/results/2026-12-05-lavapipe-small-models
AB=${AB:-/tmp/perf-ab}
cd "$PERF"
node dist/advfree.mjs bench --suites models,methods --methods natural --rounds 3 --out "$OUT" --force
mkdir -p "$AB"
printf 'build\trun\twall ms\tGPU ms\n' > "$OUT/ab.tsv"
for i in 1 2 3; do
  # main has no --rounds: one timed block of --steps steps, as --rounds 1 here.
  (cd "$BASE" && node dist/advfree.mjs bench --suites methods --methods natural --steps 3 --warmup 1 --out "$AB/base-$i" --force >/dev/null 2>&1)
  (cd "$PERF" && node dist/advfree.mjs bench --suites methods --methods natural --steps 3 --rounds 1 --warmup 1 --out "$AB/perf-$i" --force >/dev/null 2>&1)
  for b in base perf; do
    node -e 'const c = require(process.argv[1]).methods.costs[0]; console.log([process.argv[2], process.argv[3], c.sgdStepWallMs.toFixed(1), c.sgdStepGpuMs.toFixed(1)].join("\t"))' \
      "$AB/$b-$i/report.json" "$b" "$i" >> "$OUT/ab.tsv"
  done
done
