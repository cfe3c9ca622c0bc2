#!/usr/bin/env bash
# libFuzzer runs of the parsers climp feeds with files from the internet.
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]   build, then fuzz TARGET for SECONDS
#   scripts/fuzz.sh all SECONDS                           each target in turn, SECONDS each
#   scripts/fuzz.sh --build                               only build the five binaries
# TARGET: safetensors tokenizer tsv tar image (tests/fuzz/fuzz_TARGET.c).
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev; CLIMP_SETUP_FUZZ=1
# scripts/setup.sh installs them). The libraries are built with clang and
# -fsanitize=fuzzer-no-link,address,undefined in build-fuzz/ (CLIMP_FUZZ_BUILD moves it), the
# targets with -fsanitize=fuzzer,address,undefined. Seeds are tests/fuzz/corpus/TARGET/ (read
# only); new inputs go to build-fuzz/corpus/TARGET/, crashes to build-fuzz/artifacts/TARGET/, the
# log to build-fuzz/logs/TARGET.log. A crash ends the run with exit 1: minimise it with
#   build-fuzz/fuzz_TARGET -minimize_crash=1 -runs=20000 CRASH
# fix it and add the input to tests/fuzz/regress/TARGET/, which ctest replays (test_fuzz_regress);
# findings not fixed yet wait in tests/fuzz/pending/ (README.md there). Exit 77: no clang.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=(safetensors tokenizer tsv tar image)
build=${CLIMP_FUZZ_BUILD:-build-fuzz}
CC=${CLIMP_FUZZ_CC:-clang}

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage

if ! command -v "$CC" >/dev/null 2>&1; then
  echo "fuzz: $CC not found; install it with CLIMP_SETUP_FUZZ=1 scripts/setup.sh" >&2
  exit 77
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
     "$CC" -x c -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
  echo "fuzz: $CC cannot link libFuzzer (-fsanitize=fuzzer); install libclang-rt-dev" >&2
  exit 77
fi

# UBSan stops at the first finding of any kind, as ASan does. No -DNDEBUG: assert()s stay armed
# (trainer/image.c turns stb_image's own STBI_ASSERT into a no-op, since the remaining BMP/GIF
# decoders assert on data rather than on their own state). libjpeg-turbo and libpng are Debian's
# shared libraries, not instrumented: the fuzzer sees coverage of climp's code around them only.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
SAN="$SAN -fno-omit-frame-pointer -g -O1"
build_libs() {
  CC="$CC" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Fuzz -DCLIMP_WERROR=OFF \
    -DCMAKE_C_FLAGS="$SAN -fsanitize=fuzzer-no-link" >/dev/null
  if ! cmake --build "$build" --target climp_trainer -j "$(nproc)" >"$build/build.log" 2>&1; then
    # In a tree that others edit, a half-written file of theirs may break the build for a while.
    grep -E 'error' "$build/build.log" | head -5 >&2
    [ -f "$build/libclimp_trainer.a" ] || { echo "fuzz: the libraries do not build" >&2; exit 1; }
    echo "fuzz: WARNING: the libraries do not build now; using the previous build of them" >&2
  fi
}

cache_lib() { # a library path from the CMake cache, if it was found
  local v; v=$(sed -n "s/^$1:FILEPATH=//p" "$build/CMakeCache.txt")
  case "$v" in ''|*NOTFOUND) ;; *) echo "$v" ;; esac
}

build_target() {
  local t=$1 out="$build/fuzz_$1"
  local libs=("$build/libclimp_trainer.a" "$build/libclimp_model.a" "$build/libclimp_runtime.a")
  local sys=()
  for v in CLBLAST_LIB OPENBLAS_LIB CJSON_LIB UTF8PROC_LIB OpenCL_LIBRARY ZLIB_LIBRARY_RELEASE \
           JPEG_LIBRARY_RELEASE PNG_LIBRARY_RELEASE; do
    local p; p=$(cache_lib "$v"); [ -n "$p" ] && sys+=("$p")
  done
  # shellcheck disable=SC2086
  "$CC" -std=c11 $SAN -fsanitize=fuzzer -I. "tests/fuzz/fuzz_$t.c" "${libs[@]}" "${sys[@]}" \
    -lpthread -lm -o "$out"
}

run_target() {
  local t=$1 secs=$2; shift 2
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "$build/logs"
  local dict=(); [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  local log="$build/logs/$t.log" rc=0
  echo "fuzz: $t for ${secs}s (log $log)"
  CLIMP_SOURCE_DIR="$PWD" "$build/fuzz_$t" "$build/corpus/$t" "tests/fuzz/corpus/$t" \
    -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -max_len=65536 -error_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" "${dict[@]}" "$@" >"$log" 2>&1 ||
    rc=$?
  local execs cov
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1)
  echo "fuzz: $t: ${execs:-?} executions, ${cov:-no coverage line}, exit $rc"
  if [ $rc -ne 0 ]; then
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz: invariant|.*runtime error)' "$log" | head -5 || true
    ls -1 "$build/artifacts/$t" | sed "s|^|fuzz: artifact $build/artifacts/$t/|" | tail -3
  fi
  return $rc
}

if [ "$1" = "--build" ]; then
  mkdir -p "$build"
  ( flock 9; build_libs; for t in "${TARGETS[@]}"; do build_target "$t"; done ) 9>"$build/.build.lock"
  echo "fuzz: built ${TARGETS[*]/#/$build/fuzz_}"
  exit 0
fi
[ $# -ge 2 ] || usage
target=$1 secs=$2; shift 2
case "$secs" in ''|*[!0-9]*) usage ;; esac
if [ "$target" = all ]; then list=("${TARGETS[@]}"); else
  case " ${TARGETS[*]} " in *" $target "*) list=("$target") ;; *) usage ;; esac
fi
build_all() { build_libs; for t in "${list[@]}"; do build_target "$t"; done; }
mkdir -p "$build"
( flock 9; build_all ) 9>"$build/.build.lock" # several fuzz.sh may run at once
status=0
for t in "${list[@]}"; do
  run_target "$t" "$secs" "$@" || status=1
done
exit $status
