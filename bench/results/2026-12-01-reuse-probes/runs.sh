#!/bin/bash
# Reuse-probe runs (branch probes), sized for the shared 2-core machine (load ~35): CIFAR-10's first 512 training
# images, WRN-10-1, batch 64 (8 minibatches an epoch); free-2/4/8 for 8 natural-equivalent epochs (64 SGD steps),
# 7-PGD for 1 epoch; 4 probes per run (every 8/4/2/2 minibatches).
cd /work/wt/runs
C="--model wrn-10-1 --batch 64 --train-limit 512 --test-limit 500 --log-every 2 --probe reuse"
A=probes-dist/advfree.mjs
( time node $A train --method free --replays 2 --epochs 8 --probe-every 8 $C --out probe-free2 ) > probe-free2.log 2>&1 &
( time node $A train --method free --replays 4 --epochs 8 --probe-every 4 $C --out probe-free4 ) > probe-free4.log 2>&1 &
( time node $A train --method free --replays 8 --epochs 8 --probe-every 2 $C --out probe-free8 ) > probe-free8.log 2>&1 &
( time node $A train --method pgd --steps 7 --epochs 1 --probe-every 2 $C --out probe-pgd7 ) > probe-pgd7.log 2>&1 &
wait
