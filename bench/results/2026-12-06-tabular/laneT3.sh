#!/usr/bin/env bash
# laneT3.sh PID: once process PID (MNIST pgd-10-e10-s1) ends, letter-linf's comparison 1 on seed 0 (the one letter
# setting that could speak to reuse), then lending-club-linf's comparison 2 (seed 0). Every run resumable.
set -u
export CLI=/work/wt/runner2/dist/advfree.mjs
cd "$(dirname "$0")"
source ./lib.sh
C1='^(natural-e50|free-[248]-e(25|13|7)|pgd-5-e50)'
while kill -0 "$1" 2>/dev/null; do sleep 30; done
seed0 letter-linf "$C1-s0\$"
seed0 lending-club-linf '-s0$'
