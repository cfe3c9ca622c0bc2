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
S=32 # 32x32 synthetic images: the run fits in 10 minutes on 2 CPU cores
rm -rf "$out"; mkdir -p "$out"
# tiny preset, 800 AdamW steps of 64 pairs (lr 1e-3, warmup 40, cosine), then retrieval on the
# 1,000 held-out pairs (printed: text->image and image->text recall@1/5/10).
./build/climp train --image-size $S --save-dir "$out" --log-jsonl "$out/log.jsonl" "$@"
# The saved checkpoint in use: evaluation as JSON, an image index, and a text search over it.
./build/climp eval --model "$out" --data synthetic:1000 --image-size $S --json "$out/eval.json"
./build/climp synth --out "$out/images" --n 200 --seed 77 --image-size $S >/dev/null
./build/climp embed --model "$out" --images "$out/images" --image-size $S --out "$out/index"
./build/climp search --model "$out" --index "$out/index" --image-size $S --top 3 \
  "a large red circle at the top left"
echo "run.sh: done in $(( $(date +%s) - t0 )) s (checkpoint, log and eval in $out)"
