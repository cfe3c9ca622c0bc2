#!/usr/bin/env bash
# CLI end-to-end of the FPGA offline-binary flow on the PoCL device (docs/fpga.md):
# `climp compile-kernels --kernel-variant fpga` writes a complete binary folder for the tiny
# preset, whose program list holds only FPGA variants (the *_fpga sources and the GEMM's
# single work-item kernel; no NDRange element-wise, norm, embedding/loss, optimizer, conv or scan
# program); a training step then runs from it with the FPGA kernel variants in binary-only mode
# (no "compiled" line, no cache written) with the same loss as a JIT run and, within rounding,
# the loss and gradient norm of the ordinary kernels; a missing binary gives
# one clear error naming the kernel source and the device; scripts/fpga/build.sh says so and
# exits non-zero without an FPGA compiler, and with a stand-in compiler (the PoCL payloads)
# rebuilds the same program texts, keys and files, which train too. Kernel bundles:
# `compile-kernels --bundle` writes all the step's programs as ONE binary; a training step from it
# loads exactly one binary, compiles nothing and gives the JIT loss; a map lacking a program falls
# back to its own file (or names it when that is missing too); a stale map key is refused;
# build.sh --bundle-from rebuilds the same bundle with the stand-in compiler.
set -u
BIN=${CLIMP_BIN:?}
SRC=${CLIMP_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
fail=0; pass=0
ok() { if "$@"; then pass=$((pass+1)); else echo "FAIL: $*"; fail=$((fail+1)); fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$BIN" devices >/dev/null 2>&1 || { echo "skip: no OpenCL device"; exit 77; }

size=(--image-size 32 --batch-size 4)
# compile-kernels: the whole tiny step + inference with the fpga variants, into a folder
"$BIN" compile-kernels --kernel-variant fpga --out "$tmp/bins" --preset tiny "${size[@]}" \
  --list-programs --bundle >"$tmp/list.tsv" 2>"$tmp/ck.err"
ok test $? -eq 0
# the bundle goes to its own folder: bins keeps the per-program files only
ok grep -q "kernel bundle $tmp/bins/bundle-[0-9a-f]*.bin: the $(wc -l <"$tmp/list.tsv") programs in one binary" \
  "$tmp/ck.err"
ok grep -q "checked: the workload runs from it alone, 1 binary load" "$tmp/ck.err"
mkdir "$tmp/bundle" && mv "$tmp/bins"/bundle* "$tmp/bundle/"
ok test "$(LC_ALL=C ls "$tmp/bundle")" = "$(printf 'bundle-%s.bin\nbundle.cl\nbundle.map' \
  "$(sed -n 's/^binary\tbundle-\([0-9a-f]*\)\.bin$/\1/p' "$tmp/bundle/bundle.map")")"
# one map line per listed program, same (source, defines), with its program key
ok test "$(grep -vc '^#\|^binary' "$tmp/bundle/bundle.map")" -eq "$(wc -l <"$tmp/list.tsv")"
ok test "$(awk -F'\t' '!/^#|^binary/ { print $1 "\t" $2 }' "$tmp/bundle/bundle.map" | sort)" = \
  "$(cut -f2,3 "$tmp/list.tsv" | sort)"
ok test "$(awk -F'\t' '!/^#|^binary/ { print $1 "-" $3 ".bin" }' "$tmp/bundle/bundle.map" | sort)" = \
  "$(cut -f1 "$tmp/list.tsv" | sort)"
ok grep -q "programs written to $tmp/bins" "$tmp/ck.err"
ok grep -q "checked: the workload runs from them alone" "$tmp/ck.err"
ok test -s "$tmp/bins/manifest.txt"
ok grep -q "scan_fpga \[NS=" "$tmp/bins/manifest.txt"
ok grep -q "gemm \[GEMM_KERNEL=4" "$tmp/bins/manifest.txt"
ok grep -q "conv_fpga" "$tmp/list.tsv"
# every op family of the step has its single work-item program (one per source: the lanes and
# partial-sum depth are the only defines), and no NDRange program is requested
has() { test "$(cut -f2 "$tmp/list.tsv" | grep -cx "$1")" -ge 1; }
for s in eltwise_fpga norm_fpga embed_loss_fpga optim_fpga conv_fpga scan_fpga gemm; do
  ok has "$s"
done
for s in eltwise norm embed_loss optim conv crossscan scan; do
  ok test "$(cut -f2 "$tmp/list.tsv" | grep -cx "$s")" -eq 0
done
for s in eltwise_fpga norm_fpga embed_loss_fpga optim_fpga; do
  ok test "$(awk -F'\t' -v s="$s" '$2 == s' "$tmp/list.tsv" | wc -l)" -eq 1
  ok test "$(awk -F'\t' -v s="$s" '$2 == s { print $3 }' "$tmp/list.tsv")" = "LANES=8 FPGA_II=8"
done
ok test "$(awk -F'\t' '$2 == "gemm" && $3 !~ /GEMM_KERNEL=4/' "$tmp/list.tsv" | wc -l)" -eq 0
ok test "$(cut -f1 "$tmp/list.tsv" | while read -r f; do test -s "$tmp/bins/$f" && echo y; done | wc -l)" \
  -eq "$(wc -l <"$tmp/list.tsv")"
device=$(sed -n 's/^# device: //p' "$tmp/bins/manifest.txt")
ok test -n "$device"

# A training step from the folder, source compilation forbidden (binary-only mode), versus JIT.
train() { # DIR|"" LOG
  local kb=(); [ -n "$1" ] && kb=(--kernel-binaries "$1")
  CLIMP_KERNEL_VARIANT=fpga CLIMP_LOG=debug CLIMP_NO_BINARY_CACHE=1 \
    CLIMP_CACHE_DIR="$tmp/cache-$(basename "$2")" "$BIN" train "${kb[@]}" --steps 1 "${size[@]}" \
    --data synthetic:64 --log-jsonl "$2.jsonl" 2>"$2.err"
}
train "$tmp/bins" "$tmp/bin"
ok test $? -eq 0
ok test "$(grep -c '"loss"' "$tmp/bin.jsonl")" -eq 1
ok grep -q '"finite": true' "$tmp/bin.jsonl"
ok test "$(grep -c "compiled" "$tmp/bin.err")" -eq 0
ok test ! -e "$tmp/cache-bin"
train "" "$tmp/jit"
ok test $? -eq 0
ok grep -q "compiled scan_fpga" "$tmp/jit.err"
loss() { grep -o '"loss": [^,]*' "$1"; }
ok test -n "$(loss "$tmp/bin.jsonl")"
ok test "$(loss "$tmp/bin.jsonl")" = "$(loss "$tmp/jit.jsonl")"

# ... and agrees with the ordinary (ndrange) kernels: loss and gradient norm within 1e-4 relative
CLIMP_KERNEL_VARIANT=ndrange "$BIN" train --steps 1 "${size[@]}" --data synthetic:64 \
  --log-jsonl "$tmp/nd.jsonl" 2>/dev/null
ok test $? -eq 0
close() { # KEY: the values in bin.jsonl and nd.jsonl agree
  local a b
  a=$(grep -o "\"$1\": [^,]*" "$tmp/bin.jsonl" | cut -d' ' -f2)
  b=$(grep -o "\"$1\": [^,]*" "$tmp/nd.jsonl" | cut -d' ' -f2)
  [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d;
    m = b < 0 ? -b : b; exit !(d <= 1e-4 * m) }'
}
ok close loss
ok close grad_norm

# The kernel bundle: one binary load for the whole step, nothing compiled, the JIT loss.
loads() { grep -cE "loaded (kernel bundle|offline binary)" "$1"; }
train "$tmp/bundle" "$tmp/bun"
ok test $? -eq 0
ok test "$(loads "$tmp/bun.err")" -eq 1
ok grep -q "loaded kernel bundle $tmp/bundle/bundle-" "$tmp/bun.err"
ok test "$(grep -c "from the kernel bundle" "$tmp/bun.err")" -eq "$(wc -l <"$tmp/list.tsv")"
ok test "$(grep -c "compiled" "$tmp/bun.err")" -eq 0
ok test -n "$(loss "$tmp/bun.jsonl")"
ok test "$(loss "$tmp/bun.jsonl")" = "$(loss "$tmp/jit.jsonl")"
# ... the per-program folder loads one binary per program
ok test "$(loads "$tmp/bin.err")" -eq "$(wc -l <"$tmp/list.tsv")"
# a program the map lacks comes from its own file (mixed folder), or is named when that is missing
cp -r "$tmp/bundle" "$tmp/mixed"
victim=$(grep -m1 "^scan_fpga-" "$tmp/list.tsv" | cut -f1)
vdefs=$(grep -m1 "^scan_fpga-" "$tmp/list.tsv" | cut -f3)
grep -v "^scan_fpga	$vdefs	" "$tmp/bundle/bundle.map" >"$tmp/mixed/bundle.map"
ok test "$(grep -vc '^#\|^binary' "$tmp/mixed/bundle.map")" -eq $(($(wc -l <"$tmp/list.tsv") - 1))
train "$tmp/mixed" "$tmp/mixed-nofile"
ok test $? -ne 0
ok grep -q "no offline binary for kernel source 'scan_fpga' (defines '$vdefs')" "$tmp/mixed-nofile.err"
cp "$tmp/bins/$victim" "$tmp/mixed/"
train "$tmp/mixed" "$tmp/mixed"
ok test $? -eq 0
ok test "$(loads "$tmp/mixed.err")" -eq 2
ok grep -q "loaded offline binary $tmp/mixed/$victim" "$tmp/mixed.err"
ok test "$(loss "$tmp/mixed.jsonl")" = "$(loss "$tmp/jit.jsonl")"
# a map whose program key is not this climp's: the bundle was built from other sources
cp -r "$tmp/bundle" "$tmp/stale"
sed -i "s/^\(scan_fpga\t$vdefs\t\)[0-9a-f]*/\10123456789abcdef/" "$tmp/stale/bundle.map"
ok test "$(grep -c "^scan_fpga	$vdefs	" "$tmp/stale/bundle.map")" -eq 1
ok test "$(cmp -s "$tmp/stale/bundle.map" "$tmp/bundle/bundle.map"; echo $?)" -eq 1
train "$tmp/stale" "$tmp/stale"
ok test $? -ne 0
ok grep -q "the kernel bundle in $tmp/stale was built from other kernel sources: it lists 'scan_fpga'" \
  "$tmp/stale.err"

# One binary missing: one clear error naming the kernel source and the device.
cp -r "$tmp/bins" "$tmp/holed"
victim=$(grep -m1 "^scan_fpga-" "$tmp/list.tsv" | cut -f1)
rm "$tmp/holed/$victim"
train "$tmp/holed" "$tmp/holed"
ok test $? -ne 0
ok grep -q "CLIMP_ERR_NO_BINARY: no offline binary for kernel source 'scan_fpga'" "$tmp/holed.err"
ok grep -q "device '$device'" "$tmp/holed.err"
ok grep -q "$victim" "$tmp/holed.err"

# compile-kernels usage errors
"$BIN" compile-kernels --kernel-variant fpga >/dev/null 2>&1; ok test $? -eq 2
"$BIN" compile-kernels --out "$tmp/x" --preset nonesuch >/dev/null 2>&1; ok test $? -eq 2
"$BIN" compile-kernels --out "$tmp/x" --kernel-variant gpu >/dev/null 2>&1; ok test $? -eq 2

# build.sh without an FPGA compiler: says so, non-zero exit, nothing written.
if ! command -v aoc >/dev/null 2>&1 && ! command -v v++ >/dev/null 2>&1; then
  bash "$SRC/scripts/fpga/build.sh" --out "$tmp/nofpga" --climp "$BIN" >"$tmp/nofpga.out" 2>&1
  ok test $? -eq 3
  ok grep -q "no FPGA OpenCL compiler found" "$tmp/nofpga.out"
  ok test ! -e "$tmp/nofpga"
fi
# build.sh with a stand-in compiler that returns the PoCL binary of the same program: checks
# the rebuilt program texts (keys), the wrapper format and the manifest end to end.
cat >"$tmp/fakecc" <<EOF
#!/bin/sh
head -c 12 "\$1" | grep -q . && tail -c +27 "$tmp/bins/\$3" >"\$2"
EOF
chmod +x "$tmp/fakecc"
bash "$SRC/scripts/fpga/build.sh" --out "$tmp/fbins" --toolchain custom --compiler-cmd "$tmp/fakecc" \
  --list-file "$tmp/list.tsv" >"$tmp/fb.out" 2>&1
ok test $? -eq 0
ok test "$(ls "$tmp/fbins"/*.bin | wc -l)" -eq "$(wc -l <"$tmp/list.tsv")"
same=1
for f in "$tmp/fbins"/*.bin; do cmp -s "$f" "$tmp/bins/$(basename "$f")" || same=0; done
ok test $same -eq 1
ok test "$(grep -vc '^#' "$tmp/fbins/manifest.txt")" -eq "$(wc -l <"$tmp/list.tsv")"
train "$tmp/fbins" "$tmp/fb"
ok test $? -eq 0
ok test "$(loss "$tmp/fb.jsonl")" = "$(loss "$tmp/bin.jsonl")"
# --program: the key of a hand-given program (as a "no offline binary" error names it)
defs=$(grep -m1 "^scan_fpga-" "$tmp/list.tsv" | cut -f3)
bash "$SRC/scripts/fpga/build.sh" --out "$tmp/one" --dry-run --no-list --program scan_fpga "$defs" \
  >"$tmp/one.out" 2>&1
ok test $? -eq 0
ok grep -q "$victim <- cl_kernels/scan_fpga.cl \[$defs\]" "$tmp/one.out"
# ... and built into an existing folder, which keeps its other programs in the manifest
bash "$SRC/scripts/fpga/build.sh" --out "$tmp/fbins" --toolchain custom --compiler-cmd "$tmp/fakecc" \
  --no-list --program scan_fpga "$defs" >"$tmp/one2.out" 2>&1
ok test $? -eq 0
ok test "$(grep -vc '^#' "$tmp/fbins/manifest.txt")" -eq "$(wc -l <"$tmp/list.tsv")"
ok grep -q "^$victim scan_fpga \[$defs\]" "$tmp/fbins/manifest.txt"
# --bundle-from: the bundle rebuilt by the stand-in compiler (its PoCL payload) is byte-identical,
# with the map and text, and trains with the one-binary load and the JIT loss
sed "s|$tmp/bins/|$tmp/bundle/|" "$tmp/fakecc" >"$tmp/fakecc-bundle"
chmod +x "$tmp/fakecc-bundle"
bash "$SRC/scripts/fpga/build.sh" --out "$tmp/fbundle" --toolchain custom \
  --compiler-cmd "$tmp/fakecc-bundle" --bundle-from "$tmp/bundle" >"$tmp/fbun.out" 2>&1
ok test $? -eq 0
ok grep -q "bundle.cl ($(wc -l <"$tmp/list.tsv") programs, one compile)" "$tmp/fbun.out"
ok test "$(grep -c '^+ ' "$tmp/fbun.out")" -eq 1
bfile=$(sed -n 's/^binary\t//p' "$tmp/bundle/bundle.map")
ok cmp -s "$tmp/fbundle/$bfile" "$tmp/bundle/$bfile"
ok cmp -s "$tmp/fbundle/bundle.cl" "$tmp/bundle/bundle.cl"
ok test "$(grep -v '^#' "$tmp/fbundle/bundle.map")" = "$(grep -v '^#' "$tmp/bundle/bundle.map")"
train "$tmp/fbundle" "$tmp/fbun"
ok test $? -eq 0
ok test "$(loads "$tmp/fbun.err")" -eq 1
ok test "$(loss "$tmp/fbun.jsonl")" = "$(loss "$tmp/jit.jsonl")"
# ... a bundle.cl that is not the map's bundle is refused; --bundle takes no hand-made list
cp -r "$tmp/bundle" "$tmp/badbun"
echo "/* edited */" >>"$tmp/badbun/bundle.cl"
bash "$SRC/scripts/fpga/build.sh" --out "$tmp/badbun-out" --dry-run --bundle-from "$tmp/badbun" \
  >"$tmp/badbun.out" 2>&1
ok test $? -ne 0
ok grep -q "is not the bundle" "$tmp/badbun.out"
ok test ! -e "$tmp/badbun-out"
bash "$SRC/scripts/fpga/build.sh" --out "$tmp/x" --dry-run --bundle --list-file "$tmp/list.tsv" \
  >/dev/null 2>&1
ok test $? -eq 2

# a program text that does not match its file name is refused
printf 'scan_fpga-0123456789abcdef.bin\tscan_fpga\t%s\n' "$defs" >"$tmp/badlist.tsv"
bash "$SRC/scripts/fpga/build.sh" --out "$tmp/bad" --dry-run --list-file "$tmp/badlist.tsv" \
  >"$tmp/bad.out" 2>&1
ok test $? -ne 0
ok grep -q "does not match" "$tmp/bad.out"

echo "cli_fpga: $pass passed, $fail failed"
[ $fail -eq 0 ]
