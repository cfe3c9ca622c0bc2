#!/usr/bin/env bash
# CLI end-to-end: a short training run, exact resume (bitwise-equal loss log and weights, with
# and without shuffling), evaluation and embedding of the checkpoint, and bad command lines
# (one line, exit code 2, nothing written).
set -u
BIN=${CLIMP_BIN:?}
fail=0; pass=0
ok() { if "$@"; then pass=$((pass+1)); else echo "FAIL: $*"; fail=$((fail+1)); fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$BIN" devices >/dev/null 2>&1 || { echo "skip: no OpenCL device"; exit 77; }

small=(--model-config tiny --image-size 32 --batch-size 8 --data synthetic:400 --warmup 2 --lr 1e-3)

# A short run: log lines, a checkpoint, eval and embed on it.
"$BIN" train "${small[@]}" --steps 3 --save-dir "$tmp/a" --log-jsonl "$tmp/a.jsonl" 2>"$tmp/a.err"
ok test $? -eq 0
ok test "$(grep -c '"loss"' "$tmp/a.jsonl")" -eq 3
ok grep -q '"samples_per_s"' "$tmp/a.jsonl"
ok test -s "$tmp/a/ckpt-3/model.safetensors"
ok test -s "$tmp/a/ckpt-3/optimizer.safetensors"
ok grep -q "ckpt-3" "$tmp/a/latest"
"$BIN" eval --model "$tmp/a" --data synthetic:40 --image-size 32 --json "$tmp/ev.json" >/dev/null 2>&1
ok test $? -eq 0
ok grep -q '"recall@5"' "$tmp/ev.json"
"$BIN" embed --model "$tmp/a" --data synthetic:20 --image-size 32 --out "$tmp/emb" >/dev/null 2>&1
ok test $? -eq 0
ok test "$(stat -c %s "$tmp/emb/image_embeddings.npy")" -eq $((128 + 20 * 128 * 4))

# An image index without --image-size embeds every file at its own size (mixed 32 and 48 pixels,
# batched by size), and zero-shot classifies a non-square image.
"$BIN" synth --out "$tmp/mix" --n 3 --image-size 32 >/dev/null 2>&1
"$BIN" synth --out "$tmp/mix48" --n 2 --image-size 48 --seed 5 >/dev/null 2>&1
cp "$tmp/mix48/000000.png" "$tmp/mix/100000.png"; cp "$tmp/mix48/000001.png" "$tmp/mix/100001.png"
"$BIN" embed --model "$tmp/a" --images "$tmp/mix" --out "$tmp/mixidx" >/dev/null 2>&1
ok test $? -eq 0
ok test "$(stat -c %s "$tmp/mixidx/image_embeddings.npy")" -eq $((128 + 5 * 128 * 4))
ok test "$(wc -l <"$tmp/mixidx/index.tsv")" -eq 6
# ... and a TSV of those files (--data) the same way: the same image embeddings as the index.
{ printf 'filepath\ttitle\n'; for f in "$tmp"/mix/*.png; do printf '%s\ta shape\n' "${f##*/}"; done; } \
  >"$tmp/mix/pairs.tsv"
"$BIN" embed --model "$tmp/a" --data "$tmp/mix/pairs.tsv" --batch-size 2 --out "$tmp/mixemb" \
  >/dev/null 2>&1
ok test $? -eq 0
ok test "$(stat -c %s "$tmp/mixemb/image_embeddings.npy")" -eq $((128 + 5 * 128 * 4))
"$BIN" zeroshot --model "$tmp/a" --classes "red circle,blue square" "$tmp/mix/100000.png" \
  >"$tmp/zs.out" 2>&1
ok grep -q "blue square" "$tmp/zs.out"

# Exact resume: 6 steps straight vs 3 steps, then --resume to 6. Same losses, same weights.
for mode in shuffle no-shuffle; do
  extra=(); [ $mode = no-shuffle ] && extra=(--no-shuffle --no-augment)
  "$BIN" train "${small[@]}" "${extra[@]}" --steps 6 --save-dir "$tmp/full-$mode" \
    --log-jsonl "$tmp/full-$mode.jsonl" 2>/dev/null
  "$BIN" train "${small[@]}" "${extra[@]}" --steps 3 --save-dir "$tmp/half-$mode" \
    --log-jsonl "$tmp/half-$mode.jsonl" 2>/dev/null
  "$BIN" train "${small[@]}" "${extra[@]}" --steps 6 --save-dir "$tmp/half-$mode" --resume \
    --log-jsonl "$tmp/half-$mode.jsonl" 2>"$tmp/resume.err"
  ok grep -q "resuming from" "$tmp/resume.err"
  losses() { grep -o '"loss": [^,]*' "$1"; }
  ok test "$(losses "$tmp/full-$mode.jsonl")" = "$(losses "$tmp/half-$mode.jsonl")"
  ok test "$(losses "$tmp/full-$mode.jsonl" | wc -l)" -eq 6
  ok cmp -s "$tmp/full-$mode/ckpt-6/model.safetensors" "$tmp/half-$mode/ckpt-6/model.safetensors"
  ok cmp -s "$tmp/full-$mode/ckpt-6/optimizer.safetensors" "$tmp/half-$mode/ckpt-6/optimizer.safetensors"
done

# The checkpoint records the run's MPI world size and batch; resuming with another batch is
# refused with one line naming the checkpoint (the data order depends on both).
ok grep -q '"world_size":[[:space:]]*1' "$tmp/full-shuffle/ckpt-6/state.json"
ok grep -q '"batch_size":[[:space:]]*8' "$tmp/full-shuffle/ckpt-6/state.json"
"$BIN" train "${small[@]}" --batch-size 4 --steps 8 --save-dir "$tmp/full-shuffle" --resume \
  >"$tmp/rb.out" 2>&1
ok test $? -ne 0
ok grep -q "ckpt-6 was written with --batch-size 8; resume it with the same batch size, not 4" "$tmp/rb.out"
ok test ! -e "$tmp/full-shuffle/ckpt-8"

# --recompute (block recomputation in backward) trains with the same losses and weights.
"$BIN" train "${small[@]}" --no-shuffle --no-augment --steps 3 --recompute --save-dir "$tmp/rc" \
  --log-jsonl "$tmp/rc.jsonl" 2>/dev/null
ok test "$(losses "$tmp/rc.jsonl")" = "$(losses "$tmp/full-no-shuffle.jsonl" | head -3)"

# A corrupt newest checkpoint is refused by CRC and the previous one is used.
"$BIN" train "${small[@]}" --steps 2 --save-every 1 --save-dir "$tmp/c" 2>/dev/null
printf 'garbage' | dd of="$tmp/c/ckpt-2/model.safetensors" bs=1 seek=100 conv=notrunc 2>/dev/null
"$BIN" train "${small[@]}" --steps 3 --save-dir "$tmp/c" --resume 2>"$tmp/c.err"
ok test $? -eq 0
ok grep -q "CRC32" "$tmp/c.err"
ok grep -q "resuming from .*ckpt-1" "$tmp/c.err"

# Bad command lines: exit 2, one line, nothing written.
bad() {
  "$BIN" train "$@" --save-dir "$tmp/never" >"$tmp/bad.out" 2>&1; local rc=$?
  ok test $rc -eq 2
  ok test "$(wc -l <"$tmp/bad.out")" -eq 1
}
bad --bogus-flag
bad --batch-size 0
bad --lr -1
bad --image-size 0
bad --lr-schedule sometimes
bad --kernel-variant gpu
ok test ! -e "$tmp/never"
mkdir "$tmp/ro"; chmod 500 "$tmp/ro"
if [ "$(id -u)" != 0 ]; then
  "$BIN" train --steps 1 --save-dir "$tmp/ro/x" >"$tmp/ro.out" 2>&1; ok test $? -eq 2
fi
"$BIN" train --steps 1 --save-dir /proc/climp-cannot-write >"$tmp/ro.out" 2>&1; ok test $? -eq 2
ok test "$(wc -l <"$tmp/ro.out")" -eq 1

echo "cli_train: $pass passed, $fail failed"
[ $fail -eq 0 ]
