#!/usr/bin/env bash
# `climp tune` end to end: --quick writes a tuning table (CLIMP_TUNING_FILE in a temp folder) and
# a JSON report; a second process (`climp bench kernels --json`) lists the tuned entries in its
# provenance; a corrupt table is ignored with a warning and changes no result (bitwise-equal
# losses against a run without the file); a tuned and an untuned training run (same seed) agree
# within 1e-5 relative in loss (tuning changes speed, not math); --dry-run writes nothing; bad
# command lines exit 2. Budget: < 90 s (the quick search itself < 60 s).
set -u
BIN=${CLIMP_BIN:?}
fail=0; pass=0
ok() { if "$@"; then pass=$((pass+1)); else echo "FAIL: $*"; fail=$((fail+1)); fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$BIN" devices >/dev/null 2>&1 || { echo "skip: no OpenCL device"; exit 77; }
unset CLIMP_TUNING CLIMP_GEMM CLIMP_GEMM_TILED_TYPE
export CLIMP_TUNING_FILE="$tmp/tuning.json"

# The quick search writes the table.
t0=$(date +%s)
"$BIN" tune --quick --json "$tmp/tune.json" >"$tmp/tune.out" 2>"$tmp/tune.err"; rc=$?
t1=$(date +%s)
ok test $rc -eq 0
[ $rc -eq 0 ] || cat "$tmp/tune.out" "$tmp/tune.err"
echo "tune --quick: $((t1 - t0)) s"
ok test $((t1 - t0)) -lt 60
ok test -s "$tmp/tuning.json"
ok grep -q '"version":[[:space:]]*1' "$tmp/tuning.json"
ok grep -q "wrote .* entries" "$tmp/tune.out"
for op in gemm.tiled gemm.backend scan; do ok grep -q "^$op " "$tmp/tune.out"; done
ok grep -q '"schema":[[:space:]]*"climp-tune"' "$tmp/tune.json"
ok grep -q '"candidates"' "$tmp/tune.json"
ok grep -q "tune scan" "$tmp/tune.err"  # the progress line
# "key": value lines of the table (cJSON prints one per line)
entries() { grep -oE '"(gemm|scan)\.[^"]+":[[:space:]]*-?[0-9]+' "$1" | tr -d ' \t' | sort -u; }
entries "$tmp/tuning.json" >"$tmp/keys"
ok test "$(grep -c '^"gemm\.backend@' "$tmp/keys")" -ge 2

# A second process uses the table and shows it in its provenance.
"$BIN" bench kernels --quick --filter adamw --reps 2 --json "$tmp/b.json" >/dev/null 2>&1
ok test $? -eq 0
entries "$tmp/b.json" >"$tmp/bkeys"
ok test -s "$tmp/bkeys"
missing=$(comm -23 "$tmp/keys" "$tmp/bkeys")
ok test -z "$missing"
[ -z "$missing" ] || echo "not in the bench provenance: $missing"
ok grep -q '"table_file":[[:space:]]*"'"$tmp/tuning.json"'"' "$tmp/b.json"

# --dry-run searches but writes nothing.
CLIMP_TUNING_FILE="$tmp/dry.json" "$BIN" tune --quick --ops scan --dry-run >"$tmp/dry.out" 2>/dev/null
ok test $? -eq 0
ok test ! -e "$tmp/dry.json"
ok grep -q "dry run" "$tmp/dry.out"

# Training: tuned, untuned (CLIMP_TUNING=off), and with a corrupt table.
small=(--model-config tiny --image-size 32 --batch-size 8 --data synthetic:64 --warmup 1 --lr 1e-3
       --steps 2 --seed 7 --no-shuffle --no-augment)
losses() { grep -o '"loss": [^,]*' "$1" | sed 's/.*: //'; }
"$BIN" train "${small[@]}" --save-dir "$tmp/tuned" --log-jsonl "$tmp/tuned.jsonl" 2>/dev/null
ok test $? -eq 0
CLIMP_TUNING=off "$BIN" train "${small[@]}" --save-dir "$tmp/off" --log-jsonl "$tmp/off.jsonl" \
  2>/dev/null
ok test $? -eq 0
ok test "$(losses "$tmp/tuned.jsonl" | wc -l)" -eq 2
paste <(losses "$tmp/tuned.jsonl") <(losses "$tmp/off.jsonl") >"$tmp/pairs"
ok awk '{ d = $1 - $2; if (d < 0) d = -d; a = $2 < 0 ? -$2 : $2;
          if (NF != 2 || d > 1e-5 * a) { print "loss " $1 " vs " $2; exit 1 } }' "$tmp/pairs"
# A table that surely changes the kernels (the tiled GEMM everywhere, other scan chunking):
# still the same losses within 1e-5, and the bench sees the backend change.
dev=$(grep -o '"device":[[:space:]]*"[^"]*"' "$tmp/tune.json" | head -1 | sed 's/.*: *//')
drv=$(grep -o '"driver":[[:space:]]*"[^"]*"' "$tmp/tune.json" | head -1 | sed 's/.*: *//')
printf '{"version": 1, "devices": [{"device": %s, "driver": %s, "values": {"gemm.backend": 3,
  "scan.chunk": 32, "scan.cb": 4, "scan.split": 1}}]}\n' "$dev" "$drv" >"$tmp/forced.json"
CLIMP_TUNING_FILE="$tmp/forced.json" "$BIN" train "${small[@]}" --save-dir "$tmp/forced" \
  --log-jsonl "$tmp/forced.jsonl" 2>/dev/null
ok test $? -eq 0
paste <(losses "$tmp/forced.jsonl") <(losses "$tmp/off.jsonl") >"$tmp/pairs2"
ok awk '{ d = $1 - $2; if (d < 0) d = -d; a = $2 < 0 ? -$2 : $2;
          if (NF != 2 || d > 1e-5 * a) { print "loss " $1 " vs " $2; exit 1 } }' "$tmp/pairs2"
CLIMP_TUNING_FILE="$tmp/forced.json" "$BIN" bench kernels --quick --filter gemm --reps 2 \
  --json "$tmp/g.json" >/dev/null 2>&1
ok grep -qE '"variant":[[:space:]]*"tiled"' "$tmp/g.json"

# Corrupt table: one warning, and the same losses as without a table file at all.
printf '{"version": 1, "devices": [{"device": ' >"$tmp/corrupt.json"
CLIMP_TUNING_FILE="$tmp/corrupt.json" "$BIN" train "${small[@]}" --save-dir "$tmp/c" \
  --log-jsonl "$tmp/c.jsonl" 2>"$tmp/c.err"
ok test $? -eq 0
ok grep -q "tuning file .*corrupt.json.* ignored" "$tmp/c.err"
CLIMP_TUNING_FILE="$tmp/none.json" "$BIN" train "${small[@]}" --save-dir "$tmp/n" \
  --log-jsonl "$tmp/n.jsonl" 2>/dev/null
ok test "$(losses "$tmp/c.jsonl")" = "$(losses "$tmp/n.jsonl")"
ok test -n "$(losses "$tmp/c.jsonl")"

# Bad command lines: exit 2, nothing written.
for args in "--bogus" "--ops gemm,nope" "--device"; do
  # shellcheck disable=SC2086
  CLIMP_TUNING_FILE="$tmp/bad.json" "$BIN" tune $args >/dev/null 2>&1; rc=$?
  ok test $rc -eq 2
  ok test ! -e "$tmp/bad.json"
done
"$BIN" tune --help >/dev/null; ok test $? -eq 0

echo "cli_tune: $pass passed, $fail failed"
[ $fail -eq 0 ]
