#!/usr/bin/env bash
# AutoAttack (standard) on the first 500 test images for the random-start free-m models, after run.sh; the MNIST
# experiment (process group $1) paused meanwhile.
set -u
CLI=/work/wt/runner/dist/advfree.mjs
cd "$(dirname "$0")"
while pgrep -f 'bash run.sh 1053' > /dev/null; do sleep 20; done
[ -n "${1:-}" ] && { kill -STOP -"$1"; trap 'kill -CONT -'"$1" EXIT; }
for d in free-4-rs-s0 free-8-rs-s0; do
  [ -f $d/eval-aa.json ] && continue
  node $CLI eval --checkpoint $d/model.safetensors --attack autoattack --eps 0.3 --limit 500 --json > $d/eval-aa.json.part 2>> $d.log \
    && mv $d/eval-aa.json.part $d/eval-aa.json
done
