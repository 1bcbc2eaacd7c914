#!/usr/bin/env bash
# AutoAttack (standard) on the first 500 test images for the released fgsm.pth and pgd_madry.pth (converted to
# safetensors, see README.md). An optional process group ($1, the MNIST experiment) is paused meanwhile; a
# checkpoint already attacked is skipped.
set -u
CLI=${CLI:-/work/wt/runner/dist/advfree.mjs}
cd "$(dirname "$0")"
[ -n "${1:-}" ] && { kill -STOP -"$1"; trap 'kill -CONT -'"$1" EXIT; }
for m in fgsm pgd_madry; do
  [ -f $m.aa500.json ] && continue
  node $CLI eval --checkpoint $m.safetensors --data mnist --attack autoattack --eps 0.3 --limit 500 --json > $m.aa500.json.part 2> $m.aa500.err \
    && mv $m.aa500.json.part $m.aa500.json
done
