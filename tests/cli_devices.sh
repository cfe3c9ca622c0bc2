#!/usr/bin/env bash
# CLI end-to-end: `climp devices` with and without an OpenCL platform, device tests skipping
# (exit 77) when there is none, `climp compile-kernels` writing a binary folder.
set -u
BIN=${CLIMP_BIN:?}; BUILD=${CLIMP_BUILD_DIR:?}
fail=0; pass=0
ok() { if "$@"; then pass=$((pass+1)); else echo "FAIL: $*"; fail=$((fail+1)); fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$BIN" devices >"$tmp/out" 2>&1 || { echo "skip: no OpenCL device"; cat "$tmp/out"; exit 77; }
ok grep -q "compute units" "$tmp/out"
ok grep -q "estimated peak" "$tmp/out"
"$BIN" devices --json >"$tmp/json"; ok grep -q '"compiler_available"' "$tmp/json"
"$BIN" devices --bogus >/dev/null 2>&1; ok test $? -eq 2
"$BIN" --help >/dev/null; ok test $? -eq 0

# No platform at all: one line with a hint, non-zero exit; device tests skip with 77.
mkdir "$tmp/empty"
OCL_ICD_VENDORS="$tmp/empty" "$BIN" devices >"$tmp/none" 2>&1; rc=$?
ok test $rc -ne 0
ok test "$(wc -l <"$tmp/none")" -eq 1
ok grep -q "no OpenCL device found" "$tmp/none"
ok grep -qi "hint" "$tmp/none"
OCL_ICD_VENDORS="$tmp/empty" "$BUILD/tests/test_runtime" >/dev/null 2>&1; ok test $? -eq 77

# Offline binaries for every embedded kernel source.
"$BIN" compile-kernels --device 0:0 --out "$tmp/bins" >"$tmp/ck" 2>&1; ok test $? -eq 0
ok test -s "$tmp/bins/manifest.txt"
ok test "$(ls "$tmp/bins"/*.bin | wc -l)" -ge 1
"$BIN" compile-kernels --device 42:42 --out "$tmp/b2" >"$tmp/ck2" 2>&1; ok test $? -ne 0
ok grep -q "CLIMP_ERR_DEVICE_NOT_FOUND" "$tmp/ck2"

echo "cli_devices: $pass passed, $fail failed"
[ $fail -eq 0 ]
