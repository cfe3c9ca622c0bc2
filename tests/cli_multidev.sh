#!/usr/bin/env bash
# Several devices in one process (trainer/dist_local.c) on two PoCL CPU devices
# (POCL_DEVICES="pthread pthread"): data parallel with the measured split, with a given uneven
# split (shuffled, augmented, accumulated), and one device per tower must log the same per-step
# loss, gradient norm and logit_scale as one device (1e-5 relative) and end with the same weights
# (per tensor, max|a-b| <= 1e-3 max|b|, the float noise floor of 3 AdamW steps; see
# tests/cli_mpi.sh). The tower split runs the same kernels on the same rows, so on two devices of
# one kind it is bitwise equal. Exact resume with a fixed split; usage errors exit 2.
set -u
BIN=${CLIMP_BIN:?}
BUILD=${CLIMP_BUILD_DIR:-$(dirname "$BIN")}
CMP="$BUILD/tests/test_stcompare"
fail=0; pass=0
ok() { if "$@"; then pass=$((pass+1)); else echo "FAIL: $*"; fail=$((fail+1)); fi; }
export POCL_DEVICES="pthread pthread"
devs=($("$BIN" devices 2>/dev/null | grep '^\[.*pthread' | sed 's/^\[\([0-9]*:[0-9]*\)\].*/\1/'))
[ ${#devs[@]} -ge 2 ] || { echo "skip: fewer than two PoCL pthread devices"; exit 77; }
[ -x "$CMP" ] || { echo "FAIL: $CMP not built"; exit 1; }
A=${devs[0]}; B=${devs[1]}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

small=(--model-config tiny --image-size 32 --data synthetic:400 --warmup 2 --lr 1e-3)
plain=(--no-shuffle --no-augment)

field() { grep -o "\"$2\": [^,}]*" "$1" | sed 's/.*: //'; }
close() { # A.jsonl B.jsonl KEY RTOL STEPS
  [ "$(field "$1" "$3" | wc -l)" -eq "$5" ] && [ "$(field "$2" "$3" | wc -l)" -eq "$5" ] || {
    echo "  $3: expected $5 steps in $1 and $2"; return 1; }
  paste <(field "$1" "$3") <(field "$2" "$3") | awk -v t="$4" -v k="$3" '
    { d = $1 - $2; if (d < 0) d = -d; r = $2 < 0 ? -$2 : $2
      if (!(d <= t * r)) { print "  " k " step " NR ": " $1 " vs " $2; bad = 1 } }
    END { exit bad }'
}
same_run() { # A B STEPS
  for k in loss grad_norm logit_scale; do ok close "$1.jsonl" "$2.jsonl" $k 1e-5 "$3"; done
  ok "$CMP" "$1/ckpt-$3/model.safetensors" "$2/ckpt-$3/model.safetensors" 1e-3
}
run() { # NAME ARGS...: a 3-step run saving into $tmp/NAME
  local name=$1; shift
  "$BIN" train "${small[@]}" --steps 3 --save-dir "$tmp/$name" --log-jsonl "$tmp/$name.jsonl" \
    "$@" 2>"$tmp/$name.err"
  ok test $? -eq 0
}

# 1. Data parallel over two devices, split by measured speed.
run one "${plain[@]}" --batch-size 8 --device "$A"
run dp "${plain[@]}" --batch-size 8 --devices "$A,$B"
same_run "$tmp/one" "$tmp/dp" 3
ok grep -q "on 2 devices" "$tmp/dp.err"
ok test "$(grep -c 'rows .* of 8 (.* pairs/s measured)' "$tmp/dp.err")" -eq 2

# 2. A given uneven split (rows 0..5 and 6..7), shuffled and augmented, 2 accumulation steps.
run one-sh --batch-size 8 --accum-steps 2 --device "$A"
run dp-sh --batch-size 8 --accum-steps 2 --devices "$A,$B" --device-weights 3,1
same_run "$tmp/one-sh" "$tmp/dp-sh" 3
ok grep -q "rows 0..5 of 8" "$tmp/dp-sh.err"
ok grep -q "rows 6..7 of 8" "$tmp/dp-sh.err"

# 3. One device per tower, concurrently, joined at the loss.
run towers "${plain[@]}" --batch-size 8 --vision-device "$A" --text-device "$B"
same_run "$tmp/one" "$tmp/towers" 3
ok grep -q "vision tower on \[$A\]" "$tmp/towers.err"
ok grep -q "text tower on \[$B\]" "$tmp/towers.err"
ok cmp -s "$tmp/one/ckpt-3/model.safetensors" "$tmp/towers/ckpt-3/model.safetensors"
run towers-sh --batch-size 8 --accum-steps 2 --vision-device "$A" --text-device "$B"
same_run "$tmp/one-sh" "$tmp/towers-sh" 3

# 4. Exact resume with a fixed split: 5 steps straight = 3 steps (run 2 above, but plain) + 2.
run half "${plain[@]}" --batch-size 8 --devices "$A,$B" --device-weights 1,1
"$BIN" train "${small[@]}" "${plain[@]}" --batch-size 8 --devices "$A,$B" --device-weights 1,1 \
  --steps 5 --save-dir "$tmp/full" --log-jsonl "$tmp/full.jsonl" 2>/dev/null
"$BIN" train "${small[@]}" "${plain[@]}" --batch-size 8 --devices "$A,$B" --device-weights 1,1 \
  --steps 5 --save-dir "$tmp/half" --log-jsonl "$tmp/half.jsonl" --resume 2>"$tmp/resume.err"
ok grep -q "resuming from" "$tmp/resume.err"
ok test "$(field "$tmp/full.jsonl" loss | wc -l)" -eq 5
ok test "$(field "$tmp/full.jsonl" loss)" = "$(field "$tmp/half.jsonl" loss)"
ok cmp -s "$tmp/full/ckpt-5/model.safetensors" "$tmp/half/ckpt-5/model.safetensors"

# 5. Usage errors: exit 2, one line, nothing written.
bad() {
  "$BIN" train "${small[@]}" --steps 1 "$@" --save-dir "$tmp/never" >"$tmp/bad.out" 2>&1
  local rc=$?
  ok test $rc -eq 2
  ok test "$(wc -l <"$tmp/bad.out")" -eq 1
}
bad --devices "$A"
bad --devices "$A,$B" --device "$A"
bad --devices "$A,$B" --device-weights 1
bad --devices "$A,$B" --device-weights 1,-2
bad --vision-device "$A"
bad --text-device "$B" --vision-device "$A" --devices "$A,$B"
ok test ! -e "$tmp/never"
# More devices than pairs in a batch: a clear runtime error, not a crash.
"$BIN" train "${small[@]}" --steps 1 --batch-size 1 --devices "$A,$B" >"$tmp/one-row.out" 2>&1
ok test $? -eq 1
ok grep -q "cannot be split across 2 devices" "$tmp/one-row.out"

echo "cli_multidev: $pass passed, $fail failed"
[ $fail -eq 0 ]
