#!/usr/bin/env bash
# laneT4.sh PID: once process PID (the Fashion-MNIST lane) ends, lending-club-linf's comparison 2 (seed 0). Resumable.
set -u
export CLI=/work/wt/runner2/dist/advfree.mjs
cd "$(dirname "$0")"
source ./lib.sh
while kill -0 "$1" 2>/dev/null; do sleep 30; done
seed0 lending-club-linf '-s0$'
