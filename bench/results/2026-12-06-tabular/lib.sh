# Sourced by the scripts of this folder (after their cd here): the build they run and the helpers they share.
CLI=${CLI:-/work/wt/runner/dist/advfree.mjs}
C1='^(natural-e50|free-[248]-e(25|13|7)|pgd-5-e50)'  # comparison 1's run ids, less the seed
planned() {  # writes P/plan.json without training: start the preset, stop it once its plan is on disk
  local p=$1
  [ -f $p/plan.json ] && return
  node "$CLI" experiment --preset $p --out $p >> $p.log 2>&1 &
  local pid=$!
  while [ ! -f $p/plan.json ]; do sleep 1; done
  sleep 1; kill $pid; wait $pid
}
seed0() {  # preset [id pattern]
  local p=$1 pat=${2:--s0$}
  planned $p
  for id in $(node "$CLI" experiment --out $p --status 2>/dev/null | awk -v pat="$pat" '$2!="done" && $1 ~ pat {print $1}'); do
    node "$CLI" experiment --out $p --task $id >> $p.log 2>&1
  done
  node "$CLI" experiment --out $p --report >> $p.log 2>&1
}
trained_and_attacked() {  # DIR [train flags]: trains $COMMON $THREAT plus the flags into DIR (unless there), then PGD-50 (step $STEP, 5 restarts) and AutoAttack under $THREAT, on the whole test split
  local d=$1; shift
  [ -f $d/eval-aa.json ] && return
  [ -d $d/checkpoints ] || node "$CLI" train $COMMON $THREAT "$@" --out $d >> $d.log 2>&1
  node "$CLI" eval --checkpoint $d/model.safetensors --attack pgd --steps 50 --step-size $STEP --restarts 5 $THREAT --json > $d/eval-pgd.json 2>> $d.log
  node "$CLI" eval --checkpoint $d/model.safetensors --attack autoattack $THREAT --json > $d/eval-aa.json.part 2>> $d.log && mv $d/eval-aa.json.part $d/eval-aa.json
}
