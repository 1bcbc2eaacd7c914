#!/usr/bin/env bash
# credit-g under L-inf 0.25 (the credit-g-linf preset's free-8-e7-s0: mlp-256x3, Adam 1e-3 cosine, batch 128, 50
# natural-equivalent epochs, seed 0), trained as the preset trains it with the reuse probes every 2 minibatches (7
# minibatches an epoch): the contrast to spambase-linf-free-8/, where free-8 fails. Then clean on the whole test
# split, PGD-50 (step eps/20, 5 restarts), AutoAttack.
set -u
cd "$(dirname "$0")"
source ../lib.sh
COMMON="--data credit-g --model mlp-256x3 --optimizer adam --lr 1e-3 --schedule cosine --batch 128 --weight-decay 0 --seed 0 --method free --replays 8 --epochs 50"
THREAT="--norm linf --eps 0.25"
STEP=0.0125
trained_and_attacked free-8-probes-s0 --probe reuse --probe-every 2
