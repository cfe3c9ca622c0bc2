#!/usr/bin/env bash
# Set up, configure, build and run the whole test suite with ctest.
#   scripts/test.sh              Release build in build/
#   scripts/test.sh --sanitize   AddressSanitizer + UBSan build in build-sanitize/ (a test that
#                                fails is run once more: LeakSanitizer's exit-time tracer
#                                occasionally crashes while PoCL's threads wind down)
#   scripts/test.sh [--sanitize] ARGS   ARGS go to ctest (e.g. -R 'test_image|cli_hostile')
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=build; extra=(); extra_ctest=()
if [ "${1:-}" = "--sanitize" ]; then
  build=build-sanitize; extra=(-DCLIMP_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo); shift
  # PoCL and LLVM keep allocations until exit: suppress those leak reports only.
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  extra_ctest=(--repeat until-pass:2)
fi
# PoCL: use the two cores, keep its kernel cache inside the build tree.
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$PWD/$build/pocl-cache}"
cmake -S . -B "$build" "${extra[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j 1 "${extra_ctest[@]}" "$@"
