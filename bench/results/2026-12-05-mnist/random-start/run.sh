#!/usr/bin/env bash
# Free-m with --random-start on MNIST: the mnist preset's free-4-e3-s0 and free-8-e2-s0 configurations (10
# natural-equivalent epochs) and free-4-e5-s0's (20, FGSM-RS's budget), each plus the flag; then the preset's
# evaluation: clean on all 10,000, PGD-50 (step 0.01, 10 restarts) on the first 1,000. An optional process group ($1,
# the MNIST experiment) is paused meanwhile; resumable (a rerun continues, a run evaluated is skipped).
set -u
CLI=${CLI:-/work/wt/runner/dist/advfree.mjs}
cd "$(dirname "$0")"
[ -n "${1:-}" ] && { kill -STOP -"$1"; trap 'kill -CONT -'"$1" EXIT; }
for cfg in "free-4-rs-s0 4 10" "free-8-rs-s0 8 10" "free-4-rs-e5-s0 4 20"; do
  read -r d m e <<< "$cfg"
  [ -f $d/eval-pgd.json ] && continue
  if [ -d $d/checkpoints ]; then node $CLI train --resume $d >> $d.log 2>&1
  else node $CLI train --data mnist --model mnist-net --optimizer adam --lr 5e-3 --schedule cyclic:0.4 --batch 100 \
    --weight-decay 0 --seed 0 --method free --replays $m --random-start --eps 0.3 --epochs $e --out $d >> $d.log 2>&1; fi
  node $CLI eval --checkpoint $d/model.safetensors --json > $d/eval-clean.json 2>> $d.log
  node $CLI eval --checkpoint $d/model.safetensors --attack pgd --steps 50 --step-size 0.01 --restarts 10 --eps 0.3 --limit 1000 --json > $d/eval-pgd.json.part 2>> $d.log \
    && mv $d/eval-pgd.json.part $d/eval-pgd.json
done
