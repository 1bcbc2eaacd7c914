#!/usr/bin/env bash
# advfree eval of fast_adversarial's two released MNIST checkpoints (converted with scripts/pth-to-safetensors.py):
# clean accuracy on all 10,000 test images, PGD-50 (step 0.01, 10 restarts) on the first 1,000.
set -u
CLI=${CLI:-/work/wt/runner/dist/advfree.mjs}
for m in fgsm pgd_madry; do
  [ -s $m.clean.json ] || node "$CLI" eval --checkpoint $m.safetensors --data mnist --json --save-predictions $m.clean.predictions.jsonl > $m.clean.json 2> $m.clean.err
  [ -s $m.pgd50.json ] || node "$CLI" eval --checkpoint $m.safetensors --data mnist --attack pgd --eps 0.3 --steps 50 --step-size 0.01 --restarts 10 --limit 1000 --batch 500 --json > $m.pgd50.json 2> $m.pgd50.err
done
