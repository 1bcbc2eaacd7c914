#!/usr/bin/env bash
# laneQ.sh PRESET PATTERN [PRESET PATTERN ...]: each preset's runs matching PATTERN, not yet done, in turn (resumable).
set -u
export CLI=/work/wt/runner2/dist/advfree.mjs
cd "$(dirname "$0")"
source ./lib.sh
while [ $# -ge 2 ]; do seed0 "$1" "$2"; shift 2; done
