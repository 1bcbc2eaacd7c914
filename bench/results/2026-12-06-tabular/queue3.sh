#!/usr/bin/env bash
# Seed 0 of the tabular presets first (each run by --task, resumable; an optional id pattern picks runs), then
# every preset in full.
set -u
cd "$(dirname "$0")"
source ./lib.sh  # planned, seed0 (what ran had them inline)
seed0 spambase-l2
seed0 lending-club-l2
seed0 credit-g-l2-train0.3
seed0 spambase-l2-train0.3 "$C1-s0\$"
seed0 letter-l2
seed0 lending-club-l2-train0.3 "$C1-s0\$"
seed0 spambase-linf
seed0 lending-club-linf
seed0 letter-linf
for p in spambase-l2-train0.3 lending-club-l2-train0.3 lending-club-l2 spambase-l2 spambase-linf lending-club-linf letter-l2 letter-linf; do
  node "$CLI" experiment --preset $p --out $p >> $p.log 2>&1
done
