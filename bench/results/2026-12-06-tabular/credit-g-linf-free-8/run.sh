#!/usr/bin/env bash
# credit-g under L-inf 0.25 (the credit-g-linf preset's free-8-e7-s0: mlp-256x3, Adam 1e-3 cosine, batch 128, 50
# natural-equivalent epochs, seed 0), trained as the preset trains it with the reuse probes every 2 minibatches (7
# minibatches an epoch): the contrast to spambase-linf-free-8/, where free-8 fails. Then clean on the whole test
# split, PGD-50 (step eps/20, 5 restarts), AutoAttack.
set -u
CLI=/work/wt/runner/dist/advfree.mjs
cd "$(dirname "$0")"
COMMON="--data credit-g --model mlp-256x3 --optimizer adam --lr 1e-3 --schedule cosine --batch 128 --weight-decay 0 --seed 0 --method free --replays 8 --norm linf --eps 0.25 --epochs 50"
go() {
  local d=$1; shift
  [ -f $d/eval-aa.json ] && return
  [ -d $d/checkpoints ] || node $CLI train $COMMON "$@" --out $d >> $d.log 2>&1
  node $CLI eval --checkpoint $d/model.safetensors --attack pgd --steps 50 --step-size 0.0125 --restarts 5 --norm linf --eps 0.25 --json > $d/eval-pgd.json 2>> $d.log
  node $CLI eval --checkpoint $d/model.safetensors --attack autoattack --norm linf --eps 0.25 --json > $d/eval-aa.json.part 2>> $d.log && mv $d/eval-aa.json.part $d/eval-aa.json
}
go free-8-probes-s0 --probe reuse --probe-every 2
