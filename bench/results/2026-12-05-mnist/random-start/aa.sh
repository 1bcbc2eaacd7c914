#!/usr/bin/env bash
# AutoAttack (standard) on the first 500 test images for the random-start free-m models of run.sh. An optional
# process group ($1, the MNIST experiment) is paused meanwhile; a model already attacked is skipped.
set -u
CLI=${CLI:-/work/wt/runner/dist/advfree.mjs}
cd "$(dirname "$0")"
[ -n "${1:-}" ] && { kill -STOP -"$1"; trap 'kill -CONT -'"$1" EXIT; }
for d in free-4-rs-s0 free-8-rs-s0 free-4-rs-e5-s0; do
  [ -f $d/eval-aa.json ] && continue
  node $CLI eval --checkpoint $d/model.safetensors --attack autoattack --eps 0.3 --limit 500 --json > $d/eval-aa.json.part 2>> $d.log \
    && mv $d/eval-aa.json.part $d/eval-aa.json
done
