#!/usr/bin/env bash
# The order the Fashion-MNIST runs ran in: the preset's plan order for natural and free-4, then FGSM-RS before the
# rest, then the report; a run done is skipped, a stopped one resumes. `advfree experiment --preset fashion-mnist
# --out DIR` alone runs the same runs in plan order.
set -eu
CLI=${CLI:-advfree}
DIR=${1:-runs/fashion-mnist}
for id in natural-e10-s0 free-4-e3-s0 fgsm-rs-e10-s0 free-8-e2-s0 free-4-e5-s0 free-8-e3-s0 natural-e20-s0 pgd-10-e10-s0; do
  $CLI experiment --preset fashion-mnist --out "$DIR" --task $id
done
$CLI experiment --out "$DIR" --report
