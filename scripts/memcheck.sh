#!/usr/bin/env bash
# valgrind memcheck over the CLI end to end: a short training run with a checkpoint, then eval,
# embed (dataset and image folder), search and zero-shot on it. Exits non-zero when valgrind
# reports an error in climp's own code (PoCL, its LLVM and the JIT-compiled kernels are
# suppressed by tests/valgrind.supp) or a definite leak.
#   scripts/memcheck.sh [BUILD_DIR]      (default build/; needs valgrind: CLIMP_SETUP_FUZZ=1
#                                         scripts/setup.sh installs it)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bin="$PWD/$build/climp"
[ -x "$bin" ] || { echo "memcheck: $bin not built (scripts/test.sh builds it)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "memcheck: valgrind not installed" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Warm the kernel caches outside valgrind (JIT compiles under valgrind take many minutes).
export CLIMP_CACHE_DIR="$tmp/cache" POCL_CACHE_DIR="$tmp/pocl"
small=(--model-config tiny --image-size 32 --batch-size 4 --data synthetic:64)
"$bin" train "${small[@]}" --steps 1 --save-dir "$tmp/warm" >/dev/null 2>&1
"$bin" synth --out "$tmp/img" --n 4 --image-size 32 >/dev/null 2>&1
vg=(valgrind --quiet --error-exitcode=99 --suppressions=tests/valgrind.supp --trace-children=no
    --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite)
fail=0
run() { # NAME COMMAND ARGS...
  local name=$1; shift
  local t0=$SECONDS
  "${vg[@]}" --log-file="$tmp/$name.vg" "$bin" "$@" >"$tmp/$name.out" 2>&1
  local rc=$?
  if [ $rc -eq 99 ] || grep -q "ERROR SUMMARY: [1-9]" "$tmp/$name.vg" 2>/dev/null; then
    echo "memcheck: $name: errors"; cat "$tmp/$name.vg"; fail=1
  elif [ $rc -ne 0 ]; then
    echo "memcheck: $name: exit $rc"; tail -5 "$tmp/$name.out"; fail=1
  else
    echo "memcheck: $name: clean ($((SECONDS - t0)) s)"
  fi
}
run train train "${small[@]}" --steps 2 --save-dir "$tmp/ck" --log-jsonl "$tmp/log.jsonl"
run train-resume train "${small[@]}" --steps 3 --save-dir "$tmp/ck" --resume
run eval eval --model "$tmp/ck" --data synthetic:8 --image-size 32 --json "$tmp/ev.json"
run embed-data embed --model "$tmp/ck" --data synthetic:8 --image-size 32 --out "$tmp/emb"
run embed-images embed --model "$tmp/ck" --images "$tmp/img" --out "$tmp/idx"
run search search --model "$tmp/ck" --index "$tmp/idx" --top 2 "a red circle"
run zeroshot zeroshot --model "$tmp/ck" --classes "circle,square" "$tmp/img/000000.png"
[ $fail -eq 0 ] && echo "memcheck: all clean"
exit $fail
