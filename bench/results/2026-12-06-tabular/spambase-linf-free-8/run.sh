#!/usr/bin/env bash
# spambase under L-inf 0.066 (the spambase-linf preset's free-8-e7-s0: mlp-512x2, Adam 1e-3 cosine, batch 128, 50
# natural-equivalent epochs, seed 0): (1) with free's --random-start, (2) as the preset trains it, with the reuse
# probes every 10 minibatches. Each then: clean on the whole test split, PGD-50 (step eps/20, 5 restarts), AutoAttack.
set -u
cd "$(dirname "$0")"
source ../lib.sh
COMMON="--data spambase --model mlp-512x2 --optimizer adam --lr 1e-3 --schedule cosine --batch 128 --weight-decay 0 --seed 0 --method free --replays 8 --epochs 50"
THREAT="--norm linf --eps 0.066"
STEP=0.0033
trained_and_attacked free-8-rs-s0 --random-start
trained_and_attacked free-8-probes-s0 --probe reuse --probe-every 10
