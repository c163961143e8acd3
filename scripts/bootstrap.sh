#!/usr/bin/env bash
# Install the Debian packages quantkit needs, only those that are missing.
# Runs as root on a fresh Debian 12 machine (uses sudo when not root).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config        # compiler, build, test runner (ctest)
  libopenblas-dev liblapacke-dev          # BLAS/LAPACK: GPTQ Hessians, batched forward
  libjansson-dev                          # JSON: config.json, safetensors headers, tokenizer.json
  libpcre2-dev                            # Unicode regex for byte-level BPE pre-tokenizers
  libcmocka-dev                           # unit test framework
  clang libclang-rt-14-dev libomp-dev     # libFuzzer + sanitizer runtimes, clang's OpenMP
  clang-format                            # layout check of the sources (scripts/format-check.sh)
  valgrind                                # memcheck subset of the suite
  jq                                      # JSON in the command-line tests
  python3-sklearn                         # the 8x8 digits data set of tests/cli/qat_digits.sh
  libplplot-dev plplot-driver-cairo       # figures of `quantkit report` (SVG; PNG via pngcairo)
  chromium fonts-dejavu-core              # tests/cli/report.sh renders the report headless
)
if [ -n "${QK_EXTRA_PACKAGES:-}" ]; then
  # shellcheck disable=SC2206
  PACKAGES+=(${QK_EXTRA_PACKAGES})
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
