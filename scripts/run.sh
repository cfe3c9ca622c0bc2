#!/usr/bin/env bash
# The default run: set up, build, train the `tiny` preset on the built-in synthetic data,
# evaluate retrieval on 1,000 held-out pairs, then show `climp eval` and `climp search` using the
# saved checkpoint. Extra arguments go to `climp train` (e.g. --steps 100).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$PWD/build/pocl-cache}"
./build/climp devices | head -3
out=runs/default
rm -rf "$out"; mkdir -p "$out"
./build/climp train --save-dir "$out" --log-jsonl "$out/log.jsonl" "$@"
./build/climp eval --model "$out" --data synthetic:1000 --json "$out/eval.json"
mkdir -p "$out/images"
./build/climp synth --out "$out/images" --n 200 --seed 77 >/dev/null
./build/climp embed --model "$out" --images "$out/images" --out "$out/index"
./build/climp search --model "$out" --index "$out/index" --top 3 "a large red circle at the top left"
echo "run.sh: done in $(( $(date +%s) - t0 )) s (checkpoint, log and eval in $out)"
