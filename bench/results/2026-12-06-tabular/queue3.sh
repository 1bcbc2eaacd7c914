#!/usr/bin/env bash
# Seed 0 of the tabular presets first (each run by --task, resumable; an optional id pattern picks runs), then
# every preset in full.
set -u
CLI=${CLI:-/work/wt/runner/dist/advfree.mjs}
cd "$(dirname "$0")"
planned() {  # writes P/plan.json without training: start the preset, stop it once its plan is on disk
  local p=$1
  [ -f $p/plan.json ] && return
  node "$CLI" experiment --preset $p --out $p >> $p.log 2>&1 &
  local pid=$!
  while [ ! -f $p/plan.json ]; do sleep 1; done
  sleep 1; kill $pid; wait $pid
}
seed0() {  # preset [id pattern]
  local p=$1 pat=${2:--s0$}
  planned $p
  for id in $(node "$CLI" experiment --out $p --status 2>/dev/null | awk -v pat="$pat" '$2!="done" && $1 ~ pat {print $1}'); do
    node "$CLI" experiment --out $p --task $id >> $p.log 2>&1
  done
  node "$CLI" experiment --out $p --report >> $p.log 2>&1
}
seed0 spambase-l2
seed0 lending-club-l2
seed0 credit-g-l2-train0.3
seed0 spambase-l2-train0.3 '^(natural-e50|free-[248]-e(25|13|7)|pgd-5-e50)-s0$'
seed0 letter-l2
seed0 lending-club-l2-train0.3 '^(natural-e50|free-[248]-e(25|13|7)|pgd-5-e50)-s0$'
seed0 spambase-linf
seed0 lending-club-linf
seed0 letter-linf
for p in spambase-l2-train0.3 lending-club-l2-train0.3 lending-club-l2 spambase-l2 spambase-linf lending-club-linf letter-l2 letter-linf; do
  node "$CLI" experiment --preset $p --out $p >> $p.log 2>&1
done
