#!/usr/bin/env bash
# Offline-compiles every kernel program a climp preset needs for an FPGA, with Intel's `aoc`
# (Intel FPGA SDK for OpenCL) or AMD Xilinx `v++` (Vitis), and writes the folder that
# `climp train --kernel-binaries DIR` loads: one <source>-<key>.bin per program (the climp binary
# wrapper around the .aocx / .xclbin) plus manifest.txt, the same naming and format as
# `climp compile-kernels`. Step-by-step guide and what was and was not tested: docs/fpga.md.
#
# The list of programs comes from `climp compile-kernels --kernel-variant fpga --list-programs`,
# run on any device with an online compiler (PoCL on the build host, or an FPGA emulator
# platform); --program SOURCE 'DEFINES' adds one program by hand (for example the one a
# "no offline binary" error names). Each program's text is rebuilt here exactly as climp builds
# it (#define prologue + cl_kernels/<source>.cl) and its 64-bit key recomputed; a key that does
# not match the expected file name stops the script (cl_kernels/ differs from the sources
# embedded in that climp binary).
#
# Binary file format (runtime/program.c): the 10 bytes "CLIMPBIN1\0", the key (uint64), the
# payload size (uint64), then the payload (.aocx or .xclbin bytes); integers in the host's byte
# order (little-endian here). Key = FNV-1a 64 over the program text, then the build options
# "-cl-std=CL1.2", then the 10 magic bytes.
#
# --bundle builds ONE binary instead (one bitstream for the whole run, so the board is never
# reprogrammed between kernels): `climp compile-kernels --bundle` writes bundle.cl (every program,
# its file-scope names prefixed p<i>_) and bundle.map; this script checks every program key of the
# map and the bundle key against this tree, compiles bundle.cl once and writes bundle-<key>.bin,
# bundle.map and bundle.cl into --out (the runtime reads bundle.map; docs/fpga.md).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prog=$(basename "$0")

usage() {
    cat <<EOF
usage: scripts/fpga/build.sh --out DIR [options]

Compiles the FPGA kernel variants of every program climp needs and writes DIR for
'climp train --kernel-binaries DIR' (docs/fpga.md).

toolchain (default: aoc if on PATH, else v++):
  --toolchain T        intel (aoc) | xilinx (v++) | custom (--compiler-cmd)
  --board B            aoc -board=B (Intel; required unless --emulator)
  --platform P         v++ --platform P (Xilinx; required)
  --emulator           Intel: aoc -march=emulator; Xilinx: -t sw_emu
  --compiler-flags F   extra flags for aoc / both v++ steps (one string)
  --compiler-cmd CMD   custom: runs CMD SOURCE.cl OUTPUT FILE_NAME KERNEL_SOURCE 'DEFINES'
                       and wraps OUTPUT (used by the test suite; any offline compiler)
programs (default: the list climp prints for the options below):
  --climp PATH         climp binary (default \$CLIMP_BIN, else build/climp)
  --device D           device climp lists the programs on (needs an online compiler;
                       default \$CLIMP_DEVICE or 0:0)
  --preset P           model preset (default tiny)
  --image-size S       image size (default 64)
  --batch-size B       batch size (default 8)
  --text-len T         caption tokens (default 32)
  --list-file F        read the list (FILE<TAB>SOURCE<TAB>DEFINES lines) from F instead
  --program S 'D'      add program source S with defines D (repeatable); with
                       --no-list only these are built
  --no-list            do not ask climp for the list
one binary for all programs (--bundle):
  --bundle             compile the programs as one kernel bundle (one .aocx / .xclbin)
  --bundle-from DIR    take bundle.cl and bundle.map from DIR (made by 'climp compile-kernels
                       --kernel-variant fpga --bundle --out DIR') instead of running climp
other:
  --work DIR           keep sources and compiler outputs in DIR (default: a temporary folder)
  --dry-run            print each program, its key and the commands; compile nothing
EOF
}

die() { echo "$prog: $*" >&2; exit 1; }

out=; toolchain=auto; board=; platform=; emulator=0; cflags=; ccmd=; climp=${CLIMP_BIN:-}
device=${CLIMP_DEVICE:-}; preset=tiny; S=64; B=8; T=32; list_file=; use_list=1; work=
dry=0; extra=(); bundle=0; bundle_from=
while [ $# -gt 0 ]; do
    case $1 in
    --out) out=${2:?}; shift ;;
    --toolchain) toolchain=${2:?}; shift ;;
    --board) board=${2:?}; shift ;;
    --platform) platform=${2:?}; shift ;;
    --emulator) emulator=1 ;;
    --compiler-flags) cflags=${2:?}; shift ;;
    --compiler-cmd) ccmd=${2:?}; shift ;;
    --climp) climp=${2:?}; shift ;;
    --device) device=${2:?}; shift ;;
    --preset) preset=${2:?}; shift ;;
    --image-size) S=${2:?}; shift ;;
    --batch-size) B=${2:?}; shift ;;
    --text-len) T=${2:?}; shift ;;
    --list-file) list_file=${2:?}; shift ;;
    --program) extra+=("${2:?}" "${3?}"); shift 2 ;;
    --no-list) use_list=0 ;;
    --bundle) bundle=1 ;;
    --bundle-from) bundle=1; bundle_from=${2:?}; shift ;;
    --work) work=${2:?}; shift ;;
    --dry-run) dry=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$prog: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$out" ] || { echo "$prog: --out DIR is required" >&2; exit 2; }

# ---------------------------------------------------------------- the compiler
if [ "$toolchain" = auto ]; then
    if command -v aoc >/dev/null 2>&1; then toolchain=intel
    elif command -v v++ >/dev/null 2>&1; then toolchain=xilinx
    elif [ $dry = 1 ]; then toolchain=intel
    else
        echo "$prog: no FPGA OpenCL compiler found: neither 'aoc' (Intel FPGA SDK for OpenCL," \
            "Quartus Prime Pro <= 22.x) nor 'v++' (AMD Vitis) is on PATH. Install one and source" \
            "its environment script (docs/fpga.md, step 1)." >&2
        exit 3
    fi
fi
case $toolchain in
intel)
    [ $dry = 1 ] || command -v aoc >/dev/null 2>&1 || { echo "$prog: 'aoc' is not on PATH" >&2; exit 3; }
    [ $emulator = 1 ] || [ -n "$board" ] || [ $dry = 1 ] ||
        { echo "$prog: --board B is required for a hardware build (aoc -list-boards)" >&2; exit 2; }
    ext=aocx ;;
xilinx)
    [ $dry = 1 ] || command -v v++ >/dev/null 2>&1 || { echo "$prog: 'v++' is not on PATH" >&2; exit 3; }
    [ -n "$platform" ] || [ $dry = 1 ] || { echo "$prog: --platform P is required for v++" >&2; exit 2; }
    ext=xclbin ;;
custom)
    [ -n "$ccmd" ] || { echo "$prog: --toolchain custom needs --compiler-cmd" >&2; exit 2; }
    ext=bin ;;
*) echo "$prog: unknown toolchain '$toolchain' (intel, xilinx or custom)" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- helpers
# The program text climp builds: "#define NAME VALUE" per NAME=VALUE ("#define NAME" per bare
# NAME), "#line 1", then the kernel source (runtime/program.c make_prologue).
full_source() { # SOURCE DEFINES
    local src=$root/cl_kernels/$1.cl d words
    [ -f "$src" ] || die "no kernel source $src"
    read -ra words <<<"$2"
    for d in "${words[@]}"; do
        if [[ $d == *=* ]]; then printf '#define %s %s\n' "${d%%=*}" "${d#*=}"
        else printf '#define %s\n' "$d"; fi
    done
    printf '#line 1\n'
    cat "$src"
}

# FNV-1a 64 of the program text, the build options and the magic, as 16 hex digits.
program_key() { # FILE
    local h=$((0xcbf29ce484222325)) b
    for b in $( { cat "$1"; printf -- '-cl-std=CL1.2CLIMPBIN1'; } | od -An -v -tu1) 0; do
        h=$(((h ^ b) * 0x100000001b3))
    done
    printf '%016x' "$h"
}

le64() { # 16 hex digits -> 8 bytes, least significant first
    local h=$1 i
    for i in 7 6 5 4 3 2 1 0; do printf "\\x${h:$((i * 2)):2}"; done
}

wrap() { # PAYLOAD KEY DEST
    local n
    n=$(stat -c %s "$1")
    [ "$n" -gt 0 ] || die "empty compiler output $1"
    { printf 'CLIMPBIN1\0'; le64 "$2"; le64 "$(printf '%016x' "$n")"; cat "$1"; } >"$3.tmp"
    mv "$3.tmp" "$3"
}

run() { echo "+ $*" >&2; [ $dry = 1 ] || "$@"; }

compile() { # FULL.cl OUTPUT FILE SOURCE DEFINES
    local stem=${2%.*}
    # shellcheck disable=SC2086  # --compiler-flags is split on purpose
    case $toolchain in
    intel)
        local march=(); [ $emulator = 1 ] && march=(-march=emulator)
        run aoc "${march[@]}" ${board:+-board="$board"} -DCLIMP_FPGA_UNROLL=1 $cflags "$1" -o "$2" ;;
    xilinx)
        local t=hw; [ $emulator = 1 ] && t=sw_emu
        run v++ -c -t $t --platform "$platform" -DCLIMP_FPGA_UNROLL=1 $cflags -o "$stem.xo" "$1"
        run v++ -l -t $t --platform "$platform" $cflags -o "$2" "$stem.xo" ;;
    custom) run $ccmd "$1" "$2" "$3" "$4" "$5" ;;
    esac
}

if [ -z "$work" ]; then
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

# ---------------------------------------------------------------- one bundle
if [ $bundle = 1 ]; then
    [ -z "$list_file" ] && [ ${#extra[@]} = 0 ] && [ $use_list = 1 ] ||
        { echo "$prog: --bundle takes its programs from climp (not --list-file, --program, --no-list)" >&2; exit 2; }
    if [ -z "$bundle_from" ]; then
        [ -n "$climp" ] || climp=$root/build/climp
        [ -x "$climp" ] || die "no climp binary at $climp (build it, or give --climp PATH)"
        bundle_from=$work/host
        echo "$prog: bundling the programs of preset $preset (image $S, batch $B) with $climp" >&2
        "$climp" compile-kernels --kernel-variant fpga --bundle --out "$bundle_from" \
            --preset "$preset" --image-size "$S" --batch-size "$B" --text-len "$T" \
            ${device:+--device "$device"} >&2 || die "climp compile-kernels --bundle failed"
    fi
    map=$bundle_from/bundle.map
    [ -f "$map" ] && [ -f "$bundle_from/bundle.cl" ] || die "no bundle.map and bundle.cl in $bundle_from"
    file=$(awk -F'\t' '$1 == "binary" { print $2 }' "$map")
    [[ $file =~ ^bundle-[0-9a-f]{16}\.bin$ ]] || die "$map: no 'binary<TAB>bundle-<key>.bin' line"
    key=${file%.bin}; key=${key##*-}
    # each program of the map is the text this tree's cl_kernels/ gives, and bundle.cl is the map's
    while IFS= read -r line; do # SOURCE<TAB>DEFINES (may be empty)<TAB>KEY<TAB>PREFIX
        case $line in '#'* | binary$'\t'* | '') continue ;; esac
        src=${line%%$'\t'*}; line=${line#*$'\t'}; defs=${line%%$'\t'*}; line=${line#*$'\t'}
        pkey=${line%%$'\t'*}; prefix=${line#*$'\t'}
        full_source "$src" "$defs" >"$work/prog.cl"
        got=$(program_key "$work/prog.cl")
        [ "$got" = "$pkey" ] || die "$src [$defs]: key $got does not match $map ($pkey):" \
            "cl_kernels/$src.cl differs from the source built into that climp"
        echo "$prog: $prefix* <- cl_kernels/$src.cl [$defs]" >&2
        n=$((${n:-0} + 1))
    done <"$map"
    cp "$bundle_from/bundle.cl" "$work/bundle.cl"
    got=$(program_key "$work/bundle.cl")
    [ "$got" = "$key" ] || die "bundle.cl (key $got) is not the bundle $map names ($file)"
    echo "$prog: $file <- bundle.cl (${n:-0} programs, one compile)" >&2
    compile "$work/bundle.cl" "$work/bundle.$ext" "$file" bundle ""
    if [ $dry = 0 ]; then
        mkdir -p "$out"
        wrap "$work/bundle.$ext" "$key" "$out/$file"
        cp "$work/bundle.cl" "$out/bundle.cl"
        { echo "# compiled by scripts/fpga/build.sh: toolchain $toolchain${board:+ board $board}${platform:+ platform $platform}$([ $emulator = 1 ] && echo ' emulator')"
          grep -v '^# built on' "$map"; } >"$out/bundle.map.tmp"
        mv "$out/bundle.map.tmp" "$out/bundle.map"
    fi
    echo "$prog: kernel bundle $([ $dry = 1 ] && echo 'checked (dry run)' || echo "written to $out/$file")" >&2
    exit 0
fi

# ---------------------------------------------------------------- the list
list=$work/programs.tsv
: >"$list"
if [ -n "$list_file" ]; then
    cat "$list_file" >>"$list"
elif [ $use_list = 1 ]; then
    [ -n "$climp" ] || climp=$root/build/climp
    [ -x "$climp" ] || die "no climp binary at $climp (build it, or give --climp PATH)"
    echo "$prog: listing the programs of preset $preset (image $S, batch $B) with $climp" >&2
    "$climp" compile-kernels --kernel-variant fpga --list-programs --preset "$preset" \
        --image-size "$S" --batch-size "$B" --text-len "$T" ${device:+--device "$device"} \
        >>"$list" || die "climp compile-kernels --list-programs failed"
fi
i=0
while [ $i -lt ${#extra[@]} ]; do
    src=${extra[$i]} defs=${extra[$((i + 1))]}
    full_source "$src" "$defs" >"$work/extra.cl"
    printf '%s-%s.bin\t%s\t%s\n' "$src" "$(program_key "$work/extra.cl")" "$src" "$defs" >>"$list"
    i=$((i + 2))
done
[ -s "$list" ] || die "no programs to build"

# ---------------------------------------------------------------- compile and wrap
mkdir -p "$out"
n=0
manifest=$work/manifest.txt
{
    echo "# climp offline kernel binaries (scripts/fpga/build.sh)"
    echo "# toolchain: $toolchain${board:+ board $board}${platform:+ platform $platform}$([ $emulator = 1 ] && echo ' emulator')"
    echo "# preset: $preset, image $S, batch $B, variant fpga"
} >"$manifest"
while IFS=$'\t' read -r file src defs; do
    [ -n "$file" ] || continue
    key=${file%.bin}; key=${key##*-}
    stem=$work/${file%.bin}
    full_source "$src" "$defs" >"$stem.cl"
    got=$(program_key "$stem.cl")
    [ "$got" = "$key" ] || die "$src [$defs]: key $got does not match $file: cl_kernels/$src.cl" \
        "differs from the source built into $climp (rebuild climp from this tree)"
    echo "$prog: $file <- cl_kernels/$src.cl [$defs]" >&2
    compile "$stem.cl" "$stem.$ext" "$file" "$src" "$defs"
    [ $dry = 1 ] || wrap "$stem.$ext" "$key" "$out/$file"
    echo "$file $src [$defs]" >>"$manifest"
    n=$((n + 1))
done <"$list"
# Keep the rows of programs built earlier into the same folder (--program adds to it).
if [ $dry = 0 ] && [ -f "$out/manifest.txt" ]; then
    { grep -v '^#' "$out/manifest.txt" || true; } | while read -r f rest; do
        grep -q "^$f " "$manifest" || [ ! -f "$out/$f" ] || echo "$f $rest"
    done >>"$manifest"
fi
[ $dry = 1 ] || cp "$manifest" "$out/manifest.txt"
echo "$prog: $n programs $([ $dry = 1 ] && echo 'listed (dry run)' || echo "written to $out")" >&2
