#!/usr/bin/env bash
# Killed with SIGKILL at random moments (issue 9): a training run (tiny preset, 32x32, batch 8,
# a checkpoint every step) is killed CLIMP_KILL_POINTS times (default 20), half of them at a
# random delay after start and half while a checkpoint is being written (at once when a new file
# of one of the write's phases appears: the temporary folder, the model, the optimizer state,
# state.json, the `latest` pointer; the phase cycles); after every kill the run is started again with --resume.
# Every time: no visible ckpt-<step> folder is incomplete, --resume continues from the newest
# one (or from scratch when there is none) without skipping a corrupt one, and when a chain of
# runs reaches the last step its final weights and optimizer state equal, byte for byte, those
# of an uninterrupted run. A chain that completes before all kills are spent starts again in a
# fresh folder. CLIMP_KILL_STEPS (default 16) sets the run length, CLIMP_KILL_SEED the random
# points; CLIMP_KILL_POINTS=200 is the long version.
set -u
BIN=${CLIMP_BIN:?}
POINTS=${CLIMP_KILL_POINTS:-20}
STEPS=${CLIMP_KILL_STEPS:-16}
RANDOM=${CLIMP_KILL_SEED:-2024}
fail=0; pass=0
ok() { if "$@"; then pass=$((pass+1)); else echo "FAIL: $*"; fail=$((fail+1)); fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$BIN" devices >/dev/null 2>&1 || { echo "skip: no OpenCL device"; exit 77; }
args=(train --model-config tiny --image-size 32 --batch-size 8 --data synthetic:400 --warmup 2
      --lr 1e-3 --seed 7 --steps "$STEPS" --save-every 1 --keep 2)

t0=$(date +%s)
"$BIN" "${args[@]}" --save-dir ref >ref.out 2>&1
ok test $? -eq 0
ok test -s "ref/ckpt-$STEPS/model.safetensors"

newest() { # step of the newest ckpt-<step> folder, -1 if none
  local best=-1 d s
  for d in "$1"/ckpt-*; do
    s=${d##*/ckpt-}
    case $s in ''|*[!0-9]*) continue ;; esac
    [ "$s" -gt "$best" ] && best=$s
  done
  echo "$best"
}
all_complete() { # every visible ckpt-<step> folder holds its three files
  local d s
  for d in "$1"/ckpt-*; do
    s=${d##*/ckpt-}
    case $s in ''|*[!0-9]*) continue ;; esac
    for f in model.safetensors optimizer.safetensors state.json; do
      [ -s "$d/$f" ] || { echo "incomplete checkpoint $d (no $f)"; return 1; }
    done
  done
}
# The resume line of a run's log agrees with what the folder held before it started.
resumed_right() {
  local log=$1 dir=$2 want=$3
  if [ "$want" -lt 0 ]; then grep -q "no checkpoint in $dir: starting from scratch" "$log" && return 0
  else grep -q "resuming from $dir/ckpt-$want (step $want)" "$log" && return 0; fi
  # killed before it got that far: it said nothing else either
  ! grep -q "resuming from\|starting from scratch" "$log"
}
same_as_ref() {
  cmp -s "ref/ckpt-$STEPS/model.safetensors" "$1/ckpt-$STEPS/model.safetensors" &&
    cmp -s "ref/ckpt-$STEPS/optimizer.safetensors" "$1/ckpt-$STEPS/optimizer.safetensors"
}

# Phases of a checkpoint write (trainer/session.c): the temporary folder made, the model file
# being written, the optimizer file, state.json, the `latest` pointer.
phases=("ckpt-*.tmp" "ckpt-*.tmp/model.safetensors.tmp" "ckpt-*.tmp/optimizer.safetensors.tmp"
        "ckpt-*.tmp/state.json*" "latest.tmp")
hits=""
chain=1 kills=0 in_write=0 verified=0 completed=0 attempt=0
dir=run1
while [ $kills -lt "$POINTS" ]; do
  attempt=$((attempt + 1))
  want=$(newest $dir)
  log=log.$attempt
  touch marker; sleep 0.01
  "$BIN" "${args[@]}" --save-dir $dir --resume >$log 2>&1 &
  pid=$!
  if [ $((kills % 2)) -eq 0 ]; then
    sleep "$((RANDOM % 3000 / 1000)).$(printf %03d $((RANDOM % 1000)))"
    writing=$(find $dir -newer marker -path "$dir/*.tmp*" -print -quit 2>/dev/null)
  else # wait for this run to reach one phase of writing a checkpoint, then kill at once
    phase=${phases[$(( (kills / 2) % ${#phases[@]} ))]}
    writing=""
    for _ in $(seq 5000); do
      kill -0 $pid 2>/dev/null || break
      writing=$(find $dir -newer marker -path "$dir/$phase" -print -quit 2>/dev/null)
      [ -n "$writing" ] && break
      sleep 0.002
    done
  fi
  kill -KILL $pid 2>/dev/null
  { wait $pid; } 2>/dev/null; rc=$?
  ok resumed_right $log $dir "$want"
  grep -q "resuming from\|starting from scratch" $log && verified=$((verified + 1))
  ok test -z "$(grep 'skipping checkpoint' $log)"
  if [ $rc -eq 0 ]; then # the run finished before the kill
    ok same_as_ref $dir
    completed=$((completed + 1)); chain=$((chain + 1)); dir=run$chain
    continue
  fi
  ok test $rc -eq 137
  kills=$((kills + 1))
  [ -n "$writing" ] && in_write=$((in_write + 1)) && hits="$hits ${writing#$dir/}"
  ok all_complete $dir
done
# Finish the last chain without killing it.
want=$(newest $dir)
"$BIN" "${args[@]}" --save-dir $dir --resume >final.log 2>&1
ok test $? -eq 0
ok resumed_right final.log $dir "$want"
ok test -z "$(grep 'skipping checkpoint' final.log)"
ok same_as_ref $dir
completed=$((completed + 1))
echo "cli_kill: $kills kills ($in_write while a checkpoint was being written) over $attempt runs;" \
     "$verified resume points checked; $completed chains of $STEPS steps completed, each equal to" \
     "the uninterrupted run; $(($(date +%s) - t0)) s"
echo "cli_kill: killed while these existed:$hits"
echo "cli_kill: $pass passed, $fail failed"
[ $fail -eq 0 ]
