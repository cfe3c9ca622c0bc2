#!/usr/bin/env bash
# `climp bench --quick` inside the test suite: every section runs on the OpenCL device and writes a
# JSON document that the schema validator accepts (tests/test_bench --validate, in C); the
# calibration is cached; every kernel case timed its plain-C reference (speed-up in the JSON and
# the table), and --no-reference / --reference-budget behave; --filter and bad command lines
# behave; the FLOP formulas of the PyTorch
# baseline agree with the C ones; bench_compare merges runs; the plot scripts turn the stored
# example (tests/data/bench_example.json) and a training log into non-empty PNGs. The Python
# parts are skipped when python3 (or matplotlib, for the plots) is missing. Budget: < 60 s.
set -u
BIN=${CLIMP_BIN:?}; BUILD=${CLIMP_BUILD_DIR:?}; SRC=${CLIMP_SOURCE_DIR:-.}
fail=0; pass=0
ok() { if "$@"; then pass=$((pass+1)); else echo "FAIL: $*"; fail=$((fail+1)); fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$BIN" devices >/dev/null 2>&1 || { echo "skip: no OpenCL device"; exit 77; }
t0=$(date +%s)

# Every section, quick mode, with JSON.
"$BIN" bench all --quick --json "$tmp/q.json" >"$tmp/q.out" 2>"$tmp/q.err"; rc=$?
ok test $rc -eq 0
[ $rc -eq 0 ] || { cat "$tmp/q.out" "$tmp/q.err"; }
ok test -s "$tmp/q.json"
ok "$BUILD/tests/test_bench" --validate "$tmp/q.json"
ok grep -q "measured peaks" "$tmp/q.out"
for pat in '"name": "scan_fwd"' '"name": "scan_bwd"' '"name": "gemm"' '"name": "adamw"' \
           '"mode": "train_step"' '"tower": "vision"' '"tower": "text"' '"series": "image"' \
           '"series": "text"' '"git_commit": "' '"schema_version": 2'; do
  ok grep -qE "${pat/: /:[[:space:]]*}" "$tmp/q.json"
done
ok grep -qE '"errors":[[:space:]]*\[\]' "$tmp/q.json"
# Quick mode times every kernel's plain-C reference: each kernel object has a numeric speed-up.
nk=$(grep -c '"launches":' "$tmp/q.json")
ok test "$nk" -gt 0
ok test "$(grep -cE '"speedup_vs_reference":[[:space:]]*[0-9]' "$tmp/q.json")" -eq "$nk"
ok grep -qE '"function":[[:space:]]*"climp_scan_backward_ref"' "$tmp/q.json"
ok grep -q "speed-up" "$tmp/q.out"
# The calibration is cached per device in the cache folder and reused.
ok test -n "$(ls "${CLIMP_CACHE_DIR:-$HOME/.cache/climp}"/calib-*.json 2>/dev/null)"

# --filter keeps only matching kernel cases; one section only.
"$BIN" bench kernels --quick --filter adamw --reps 2 --json "$tmp/f.json" >"$tmp/f.out" 2>&1
ok test $? -eq 0
ok grep -q "(cached)" "$tmp/f.out"
ok test "$(grep -c '"key":' "$tmp/f.json")" -eq 1
ok "$BUILD/tests/test_bench" --validate "$tmp/f.json"
# AdamW is memory-bound: paired with triads of the moment (--reps 2: two pairs, a finite %)
ok grep -q '%bw-now' "$tmp/f.out"
ok grep -q '"pairs":[[:space:]]*2' "$tmp/f.json"
ok grep -qE '"pct_of_triad_median":[[:space:]]*[0-9]' "$tmp/f.json"
ok grep -qE '"cpu_median":[[:space:]]*[0-9]' "$tmp/f.json"

# Reference options (once trainer/bench.c passes them to climp_bench_ref_option).
if "$BIN" bench --help | grep -q -- '--no-reference'; then
  "$BIN" bench kernels --quick --filter rmsnorm --no-reference --json "$tmp/n.json" >"$tmp/n.out" 2>&1
  ok test $? -eq 0
  ok "$BUILD/tests/test_bench" --validate "$tmp/n.json"
  ok test "$(grep -cE '"status":[[:space:]]*"off"' "$tmp/n.json")" -eq 2
  ok test "$(grep -cE '"speedup_vs_reference":[[:space:]]*null' "$tmp/n.json")" -eq 2
  ok grep -qE '"enabled":[[:space:]]*false' "$tmp/n.json"
  # A budget below the first scan's predicted time skips it (recorded, not an error).
  "$BIN" bench kernels --quick --filter scan_fwd --reference-budget 0.001 --json "$tmp/s.json" \
      >"$tmp/s.out" 2>&1
  ok test $? -eq 0
  ok "$BUILD/tests/test_bench" --validate "$tmp/s.json"
  ok grep -qE '"status":[[:space:]]*"skipped"' "$tmp/s.json"
  ok grep -qE '"errors":[[:space:]]*\[\]' "$tmp/s.json"
  bad_ref="--reference-budget 0"
else
  echo "skip: climp bench has no --no-reference yet (trainer/bench.c parser)"
  bad_ref=""
fi

# Bad command lines: one line, exit 2, nothing written.
for args in "--bogus" "--reps 0" "--preset no-such-model" "--batch-size 4,x" "sideways" \
            "--backends some" ${bad_ref:+"$bad_ref"}; do
  # shellcheck disable=SC2086
  "$BIN" bench $args --json "$tmp/bad.json" >"$tmp/bad.out" 2>&1; rc=$?
  ok test $rc -eq 2
  ok test "$(wc -l <"$tmp/bad.out")" -eq 1
  ok test ! -e "$tmp/bad.json"
done
"$BIN" bench --help >/dev/null; ok test $? -eq 0

# Python parts (optional).
PY=""
for p in /usr/bin/python3 python3; do command -v "$p" >/dev/null 2>&1 && { PY=$p; break; }; done
if [ -n "$PY" ]; then
  # The PyTorch baseline's FLOP formulas (a port) agree with climp's.
  "$PY" "$SRC/scripts/bench_pytorch" --flops-only --quick --preset tiny >"$tmp/fl.json"
  ok test $? -eq 0
  ok "$PY" -c '
import json, sys
c = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))["tiny"]
t = [e for e in c["train"] if e["mode"] == "forward"][0]
assert t["flops_per_sample"] == p["pair_forward"], (t["flops_per_sample"], p["pair_forward"])
v = [e for e in c["infer"] if e["tower"] == "vision"][0]
assert v["flops_per_item"] == p["vision"], (v["flops_per_item"], p["vision"])
' "$tmp/q.json" "$tmp/fl.json"
  # bench_compare: Markdown with ratios, CSV.
  "$PY" "$SRC/scripts/bench_compare" "$SRC/tests/data/bench_example.json" "$tmp/q.json" \
      --baseline 0 --csv "$tmp/c.csv" >"$tmp/c.md"
  ok test $? -eq 0
  ok grep -q "### kernels" "$tmp/c.md"
  ok grep -q "### scaling" "$tmp/c.md"
  ok grep -q "×" "$tmp/c.md"
  ok grep -q "vs C ref" "$tmp/c.md"
  ok grep -q "speedup_vs_reference" "$tmp/c.csv"
  ok test "$(wc -l <"$tmp/c.csv")" -gt 20
  "$PY" "$SRC/scripts/bench_compare" "$tmp/q.json" --baseline nothing-like-this >/dev/null 2>&1
  ok test $? -ne 0
  # bench_ab: two arms alternated (the second with another tuning table), fastest sample each.
  printf '{"devices": []}' >"$tmp/tune.json"
  "$PY" "$SRC/scripts/bench_ab" --arm a="$BIN" --arm b="$BIN,CLIMP_TUNING_FILE=$tmp/tune.json" \
      --rounds 2 --json "$tmp/ab.json" -- kernels --quick --filter silu --no-reference --reps 1 \
      >"$tmp/ab.md" 2>"$tmp/ab.err"
  ok test $? -eq 0
  ok grep -q "^| silu_fwd .*| [0-9.]*x | [0-9.]*x ([0-9.]*-[0-9.]*) |$" "$tmp/ab.md"
  ok grep -q "round 2/2, b done" "$tmp/ab.err"
  ok "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1]))["rows"][0]
assert r["min_seconds"]["a"] > 0 and r["ratio_vs_first"]["b"] > 0, r
assert set(r["peak_gbps_by_arm"]) == {"a", "b"} and r["peak_gbps_by_arm"]["a"] > 0, r
p = r["paired_ratios_vs_first"]["b"]
assert len(p) == 2 and all(x > 0 for x in p), r' "$tmp/ab.json"
  "$PY" "$SRC/scripts/bench_ab" --arm a="$BIN" --arm b=/nonexistent/climp --rounds 1 -- kernels \
      --quick --filter silu >/dev/null 2>&1
  ok test $? -ne 0
else
  echo "skip: no python3 (FLOP cross-check, bench_compare)"
fi
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$SRC/scripts/plot_bench" "$SRC/tests/data/bench_example.json" --out "$tmp/p" \
      >"$tmp/p.out" 2>&1
  ok test $? -eq 0
  for f in scaling.png compare.png compare_kernels.png; do ok test -s "$tmp/p/$f"; done
  ok test -n "$(ls "$tmp"/p/roofline_*.png 2>/dev/null)"
  for f in "$tmp"/p/*.png; do ok test "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '211PNG'; done
  { for s in 1 2 3 4 5 6; do
      echo "{\"step\": $s, \"loss\": $((10 - s)).5, \"lr\": 0.00$s, \"logit_scale\": 2.6$s, \"samples_per_s\": 1$s.0, \"grad_norm\": 1.0, \"epoch\": 0, \"skipped\": 0, \"finite\": true}"
    done
    echo '{"step": 6, "eval": true, "eval_pairs": 40, "t2i_r1": 0.1, "t2i_r5": 0.3, "t2i_r10": 0.5, "i2t_r1": 0.1, "i2t_r5": 0.4, "i2t_r10": 0.6}'
  } >"$tmp/log.jsonl"
  /usr/bin/python3 "$SRC/scripts/plot_training" "$tmp/log.jsonl" --out "$tmp/t" >"$tmp/t.out" 2>&1
  ok test $? -eq 0
  for f in loss.png lr.png logit_scale.png recall.png throughput.png training.png; do
    ok test -s "$tmp/t/$f"
  done
else
  echo "skip: no matplotlib for /usr/bin/python3 (plot scripts)"
fi

echo "cli_bench: $pass passed, $fail failed ($(( $(date +%s) - t0 )) s)"
[ $fail -eq 0 ]
