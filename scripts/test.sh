#!/usr/bin/env bash
# The test command (npm test): set-up, build, type-check, formatting check, then every uvu suite in dist/tests, each
# file in its own process (one process for all of them grows lavapipe's native memory until it aborts: pipelines and
# buffers of hundreds of kernels never return to the OS). Arguments are passed as a file pattern, e.g. `npm test -- conv2d`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs
npx tsc --noEmit -p .
# The whole suite also checks the formatting (npm run format fixes it); a file pattern skips it, for quick iteration.
[ -z "${1:-}" ] && npx prettier --check . --log-level warn
pattern="${1:-.}"
total=0
passed=0
failed_files=()
log=$(mktemp)
for f in dist/tests/*.test.mjs; do
  name=$(basename "$f")
  [[ "$name" =~ $pattern ]] || continue
  set +e
  FORCE_COLOR=0 NO_COLOR=1 node node_modules/uvu/bin.js dist/tests "^${name//./\\.}\$" 2>&1 | grep -v 'artificially reduced' | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  t=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  p=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  total=$((total + ${t:-0}))
  passed=$((passed + ${p:-0}))
  if [ "$status" -ne 0 ] || [ -z "$t" ]; then
    failed_files+=("$name (exit $status)")
    # A file that died before printing its totals still counts as one failure.
    [ -z "$t" ] && total=$((total + 1))
  fi
done
rm -f "$log"
[ ${#failed_files[@]} -gt 0 ] && echo "failed: ${failed_files[*]}"
# uvu prints Total/Passed per file; this is the plain closing line CI tools read.
echo "tests: $passed passed, $((total - passed)) failed"
[ ${#failed_files[@]} -eq 0 ]
