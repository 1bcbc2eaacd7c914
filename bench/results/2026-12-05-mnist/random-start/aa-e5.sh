#!/usr/bin/env bash
# AutoAttack (standard) on the first 500 test images for free-4-rs-e5-s0.
set -u
CLI=/work/wt/runner/dist/advfree.mjs
cd "$(dirname "$0")"
d=free-4-rs-e5-s0
node $CLI eval --checkpoint $d/model.safetensors --attack autoattack --eps 0.3 --limit 500 --json > $d/eval-aa.json.part 2>> $d.log \
  && mv $d/eval-aa.json.part $d/eval-aa.json
