#!/usr/bin/env bash
# free-4 with --random-start at FGSM-RS's budget (20 natural-equivalent epochs = 5 passes: the preset's free-4-e5-s0
# plus the flag), then clean on all 10,000 and PGD-50 (step 0.01, 10 restarts) on the first 1,000.
set -u
CLI=/work/wt/runner/dist/advfree.mjs
cd "$(dirname "$0")"
d=free-4-rs-e5-s0
if [ -d $d/checkpoints ]; then node $CLI train --resume $d >> $d.log 2>&1
else node $CLI train --data mnist --model mnist-net --optimizer adam --lr 5e-3 --schedule cyclic:0.4 --batch 100 \
  --weight-decay 0 --seed 0 --method free --replays 4 --random-start --eps 0.3 --epochs 20 --out $d >> $d.log 2>&1; fi
node $CLI eval --checkpoint $d/model.safetensors --json > $d/eval-clean.json 2>> $d.log
node $CLI eval --checkpoint $d/model.safetensors --attack pgd --steps 50 --step-size 0.01 --restarts 10 --eps 0.3 --limit 1000 --json > $d/eval-pgd.json.part 2>> $d.log \
  && mv $d/eval-pgd.json.part $d/eval-pgd.json
