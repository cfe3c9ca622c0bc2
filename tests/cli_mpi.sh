#!/usr/bin/env bash
# MPI data parallelism end to end (trainer/dist_mpi.c): `mpirun -np 2 climp train --batch-size 4`
# against `climp train --batch-size 8`, which see the same global batches, must log the same
# per-step loss, gradient norm and logit_scale (1e-5 relative) and end with the same weights (per
# tensor, max|a-b| <= 1e-3 max|b|: the float noise floor of 3 AdamW steps, whose per-element
# normalisation amplifies rounding in near-zero gradients; one process with another GEMM backend
# differs by 5e-4 there). Also: shuffled + augmented data with accumulation, the all-reduce
# overlapped with the backward or not (bitwise equal), exact resume under MPI, rank 0 alone
# writing, and usage errors. Everything stays on this machine (shared memory, loopback).
set -u
BIN=${CLIMP_BIN:?}
BUILD=${CLIMP_BUILD_DIR:-$(dirname "$BIN")}
CMP="$BUILD/tests/test_stcompare"
fail=0; pass=0
ok() { if "$@"; then pass=$((pass+1)); else echo "FAIL: $*"; fail=$((fail+1)); fi; }
command -v mpirun >/dev/null 2>&1 || { echo "skip: mpirun not installed"; exit 77; }
"$BIN" devices >/dev/null 2>&1 || { echo "skip: no OpenCL device"; exit 77; }
"$BIN" train --help | grep -q "MPI: built in" || { echo "skip: climp built without MPI"; exit 77; }
[ -x "$CMP" ] || { echo "FAIL: $CMP not built"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Containers: no ptrace-based single copy, shared memory and loopback only, root allowed.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_pml=ob1 OMPI_MCA_hwloc_base_binding_policy=none
# Under AddressSanitizer (scripts/test.sh --sanitize) leak checking is off for the MPI ranks only:
# Open MPI keeps its allocations until exit in components it has dlclose'd, whose frames
# LeakSanitizer can no longer name to suppress. Every other ASan/UBSan check stays on, and the
# same code paths run leak-checked in test_dist and the single-process tests.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
MPI=(mpirun --allow-run-as-root --oversubscribe -np 2 -x CLIMP_CACHE_DIR -x CLIMP_MPI_OVERLAP
     -x ASAN_OPTIONS)
export CLIMP_MPI_OVERLAP=1

small=(--model-config tiny --image-size 32 --data synthetic:400 --warmup 2 --lr 1e-3)
plain=(--no-shuffle --no-augment)

field() { grep -o "\"$2\": [^,}]*" "$1" | sed 's/.*: //'; }
# close A.jsonl B.jsonl KEY RTOL STEPS: every step's KEY within RTOL relative, STEPS lines each.
close() {
  [ "$(field "$1" "$3" | wc -l)" -eq "$5" ] && [ "$(field "$2" "$3" | wc -l)" -eq "$5" ] || {
    echo "  $3: expected $5 steps in $1 and $2"; return 1; }
  paste <(field "$1" "$3") <(field "$2" "$3") | awk -v t="$4" -v k="$3" '
    { d = $1 - $2; if (d < 0) d = -d; r = $2 < 0 ? -$2 : $2
      if (!(d <= t * r)) { print "  " k " step " NR ": " $1 " vs " $2; bad = 1 } }
    END { exit bad }'
}
same_run() { # A B STEPS: the logged trajectories agree
  for k in loss grad_norm logit_scale; do ok close "$1.jsonl" "$2.jsonl" $k 1e-5 "$3"; done
  ok "$CMP" "$1/ckpt-$3/model.safetensors" "$2/ckpt-$3/model.safetensors" 1e-3
}

# 1. File order: global batch g is rows [8g, 8g + 8), rank r takes rows [8g + 4r, 8g + 4r + 4).
"$BIN" train "${small[@]}" "${plain[@]}" --batch-size 8 --steps 3 --save-dir "$tmp/one" \
  --log-jsonl "$tmp/one.jsonl" 2>/dev/null
ok test $? -eq 0
"${MPI[@]}" "$BIN" train "${small[@]}" "${plain[@]}" --batch-size 4 --steps 3 \
  --save-dir "$tmp/two" --log-jsonl "$tmp/two.jsonl" 2>"$tmp/two.err"
ok test $? -eq 0
same_run "$tmp/one" "$tmp/two" 3
ok grep -q "on 2 MPI ranks" "$tmp/two.err"
ok test "$(grep -c '^climp train: tiny' "$tmp/two.err")" -eq 1    # rank 0 alone prints
ok test "$(ls "$tmp/two")" = "$(printf 'ckpt-3\nlatest')"           # and writes

# 2. Same without overlapping the all-reduce with the backward: bitwise the same (two ranks).
CLIMP_MPI_OVERLAP=0 "${MPI[@]}" "$BIN" train "${small[@]}" "${plain[@]}" --batch-size 4 \
  --steps 3 --save-dir "$tmp/noov" --log-jsonl "$tmp/noov.jsonl" 2>/dev/null
ok test $? -eq 0
ok cmp -s "$tmp/two/ckpt-3/model.safetensors" "$tmp/noov/ckpt-3/model.safetensors"
ok test "$(field "$tmp/two.jsonl" loss)" = "$(field "$tmp/noov.jsonl" loss)"

# 3. Shuffled and augmented (one global permutation for every rank), 2 accumulation steps.
"$BIN" train "${small[@]}" --batch-size 8 --accum-steps 2 --steps 3 --save-dir "$tmp/one-sh" \
  --log-jsonl "$tmp/one-sh.jsonl" 2>/dev/null
"${MPI[@]}" "$BIN" train "${small[@]}" --batch-size 4 --accum-steps 2 --steps 3 \
  --save-dir "$tmp/two-sh" --log-jsonl "$tmp/two-sh.jsonl" 2>/dev/null
ok test $? -eq 0
same_run "$tmp/one-sh" "$tmp/two-sh" 3

# 4. Exact resume with the same number of ranks: 5 steps straight = 3 steps (run 1) + 2 resumed.
"${MPI[@]}" "$BIN" train "${small[@]}" "${plain[@]}" --batch-size 4 --steps 5 \
  --save-dir "$tmp/full" --log-jsonl "$tmp/full.jsonl" 2>/dev/null
cp "$tmp/two.jsonl" "$tmp/half.jsonl"
"${MPI[@]}" "$BIN" train "${small[@]}" "${plain[@]}" --batch-size 4 --steps 5 --resume \
  --save-dir "$tmp/two" --log-jsonl "$tmp/half.jsonl" 2>"$tmp/resume.err"
ok test $? -eq 0
ok test "$(grep -c 'resuming from' "$tmp/resume.err")" -eq 1
ok test "$(field "$tmp/full.jsonl" loss | wc -l)" -eq 5
ok test "$(field "$tmp/full.jsonl" loss)" = "$(field "$tmp/half.jsonl" loss)"
ok cmp -s "$tmp/full/ckpt-5/model.safetensors" "$tmp/two/ckpt-5/model.safetensors"
ok cmp -s "$tmp/full/ckpt-5/optimizer.safetensors" "$tmp/two/ckpt-5/optimizer.safetensors"

# 5. Several devices per rank are not supported under MPI: exit 2, one line.
"${MPI[@]}" "$BIN" train "${small[@]}" --steps 1 --devices 0:0,0:0 >"$tmp/bad.out" 2>&1
ok test $? -ne 0
ok grep -q "not supported with more than one MPI rank" "$tmp/bad.out"

echo "cli_mpi: $pass passed, $fail failed"
[ $fail -eq 0 ]
