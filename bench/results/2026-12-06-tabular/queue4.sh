#!/usr/bin/env bash
# queue4.sh A|B: two lanes. A: letter-l2's seed 0 (comparison 1 first); B: spambase-linf's, then lending-club-linf's
# and letter-linf's comparison 1, seed 0. Then each lane runs queue3's full presets it owns. Every run resumable.
set -u
cd "$(dirname "$0")"
source ./lib.sh
if [ "$1" = A ]; then
  seed0 letter-l2 "$C1-s0\$"
  seed0 letter-l2
  for p in spambase-l2-train0.3 lending-club-l2 spambase-l2 letter-l2; do node "$CLI" experiment --preset $p --out $p >> $p.log 2>&1; done
else
  seed0 spambase-linf "$C1-s0\$"
  seed0 lending-club-linf "$C1-s0\$"
  seed0 letter-linf "$C1-s0\$"
  for p in credit-g-l2-train0.3 spambase-linf lending-club-linf letter-linf lending-club-l2-train0.3; do node "$CLI" experiment --preset $p --out $p >> $p.log 2>&1; done
fi
