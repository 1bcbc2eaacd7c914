#!/usr/bin/env bash
# laneQ.sh PRESET PATTERN [PRESET PATTERN ...]: each preset's runs matching PATTERN, not yet done, in turn (resumable).
# Run on 2026-12-06 as two lanes, then a third once the first ended, with C1 as in lib.sh:
#   laneQ.sh spambase-l2 '^(gradnorm-e50-s0|pgd-5-e50-s3|free-4-e13-s4|free-8-e7-s4)$' \
#     credit-g-l2-train0.3 "$C1-s[1-4]\$" spambase-l2-train0.3 "$C1-s[1-4]\$"
#   laneQ.sh letter-l2 "$C1-s1\$" letter-linf "$C1-s1\$"
#   laneQ.sh letter-l2 '^(fgsm-rs-e25|free-8-e6|pgd-5-e8|gradnorm-e50)-s0$'
#   laneQ.sh spambase-l2-train0.3 '^(fgsm-rs-e25|free-8-e6|pgd-5-e8|gradnorm-e50)-s0$'
# On 2026-12-06 18:03 on a bare machine, by the build of 1198a1a (src as 5fd780f's), in run folders copied from this
# folder (the stopped runs' checkpoints were gone, so free-4-e13-s1 and gradnorm-e50-s0 trained again from the start):
#   laneQ.sh letter-linf "$C1-s1\$"
#   laneQ.sh letter-l2 '^gradnorm-e50-s0$' letter-linf '^(fgsm-rs-e25|free-8-e6|pgd-5-e8)-s0$'
# and, as each lane ended: laneQ.sh letter-l2 '^natural-e50-s2$' letter-linf '^natural-e50-s2$', then
# laneQ.sh letter-l2 '^free-8-e7-s2$'; laneQ.sh letter-linf '^nfgsm-e25-s0$', then '^atta-1-e25-s0$', then '^free-8-e7-s2$';
# last, one lane per preset: laneQ.sh PRESET '^free-4-e13-s2$'.
# On 2026-12-06 21:02 on a bare machine, by the build of 8361abd (src as 5fd780f's), exported by b04c51e's --export:
#   laneQ.sh letter-linf '^(free-2-e25|pgd-5-e50)-s2$' letter-linf '^(gradnorm-e50|yopo-5-3-e10)-s0$'
#   laneQ.sh letter-l2 '^(free-2-e25|pgd-5-e50)-s2$' letter-linf '^(trades-10-e4|gradalign-e17)-s0$'
# On 2026-12-06 23:42 on a bare machine, by the build of 54acd1c (src as 5fd780f's), letter-linf's plan.json grown to
# seeds 0-4 (the file f2c74bd's preset writes), exported by f2c74bd's --export, which grows this folder's plan:
#   laneQ.sh letter-linf '^pgd-5-e50-s3$' letter-linf "$C1-s3\$"
#   laneQ.sh letter-linf '^pgd-5-e50-s4$' letter-linf "$C1-s4\$"
# both stopped at the sitting's end: free-8-e7-s3 trained but not evaluated, -s4 not started.
# On 2026-12-07 02:46, the same build and run folders still on the machine (free-8-e7-s3 resumed from its checkpoint
# to evaluate), exported by 9bfcc40's --export:
#   laneQ.sh letter-linf '^free-8-e7-s3$' letter-l2 '^pgd-5-e50-s3$' letter-l2 "$C1-s3\$"
#   laneQ.sh letter-linf '^free-8-e7-s4$' letter-l2 '^pgd-5-e50-s4$' letter-l2 "$C1-s4\$"
# both loops killed (their runs then, free-4-e13-s3 and free-2-e25-s4, let finish) so no run outlasted the sitting's
# check; after it, alone: node $CLI experiment --out letter-l2 --task free-8-e7-s3.
# On 2026-12-07 05:47, the same build and run folders, exported by 3732656's --export, the last two, one lane each:
#   laneQ.sh letter-l2 '^free-4-e13-s4$'
#   laneQ.sh letter-l2 '^free-8-e7-s4$'
set -u
export CLI=/work/wt/runner2/dist/advfree.mjs
cd "$(dirname "$0")"
source ./lib.sh
while [ $# -ge 2 ]; do seed0 "$1" "$2"; shift 2; done
