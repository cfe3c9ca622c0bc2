#!/usr/bin/env bash
# Installs the Debian packages climp needs (only the missing ones). Idempotent; run as root on a
# fresh Debian 12 machine, or as a user when everything is already installed.
set -euo pipefail
PKGS=(build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
      libclblast-dev libstb-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev libcjson-dev
      libopenblas-dev libutf8proc-dev openmpi-bin libopenmpi-dev)
# Optional extras: Python with Debian's PyTorch (fixtures, checkpoint conversion, PyTorch baseline).
if [ "${CLIMP_SETUP_PYTHON:-0}" = 1 ]; then PKGS+=(python3 python3-torch python3-numpy python3-matplotlib); fi
# Optional: clang with libFuzzer and the sanitizer runtimes (scripts/fuzz.sh), and valgrind.
if [ "${CLIMP_SETUP_FUZZ:-0}" = 1 ]; then PKGS+=(clang libclang-rt-dev valgrind); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "setup: not root; install these as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
