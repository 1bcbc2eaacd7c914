#!/usr/bin/env bash
# The test command (npm test): set-up, build, type-check, then every uvu suite in dist/tests.
# Arguments are passed to uvu as a file pattern, e.g. `npm test -- conv2d`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs
npx tsc --noEmit -p .
log=$(mktemp)
set +e
FORCE_COLOR=0 NO_COLOR=1 npx uvu dist/tests "${1:-.}" 2>&1 | grep -v 'artificially reduced' | tee "$log"
status=${PIPESTATUS[0]}
set -e
# uvu prints Total/Passed; also print the plain closing line CI tools read.
total=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' "$log" | tail -1)
passed=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' "$log" | tail -1)
rm -f "$log"
if [ -n "$total" ] && [ -n "$passed" ]; then
  echo "tests: $passed passed, $((total - passed)) failed"
fi
exit "$status"
