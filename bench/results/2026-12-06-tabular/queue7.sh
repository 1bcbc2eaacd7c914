#!/usr/bin/env bash
# queue7.sh: spambase-linf's comparison 1 on seeds 1-4, its comparison 2 on seed 0 (do FGSM-RS and N-FGSM, fresh
# single steps, succeed where free-m fails?), letter-l2's comparison 1 on seed 0 (does 5-PGD become robust where
# free-m collapses?), then lending-club's comparison 1 on seeds 1-4 under both norms. Every run resumable.
set -u
cd "$(dirname "$0")"
source ./lib.sh
seed0 spambase-linf "$C1-s[1-4]\$"
seed0 spambase-linf
seed0 letter-l2 "$C1-s0\$"
seed0 lending-club-linf "$C1-s[1-4]\$"
seed0 lending-club-l2 "$C1-s[1-4]\$"
