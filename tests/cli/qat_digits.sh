#!/usr/bin/env bash
# The QAT acceptance on the digits of python3-sklearn, from the fixed seed:
# float >= 95%, QAT W4A4 within 1 point of float, QAT W2A8 recovering at least
# half of the PTQ drop, the converted integer model agreeing with the
# fake-quantized forward on >= 99.5% of test images (qat_digits --check).
# Under sanitizers (a build with QK_SANITIZE=ON) it runs the quick variant
# (fewer epochs, no accuracy check): a memory/UB check of the whole pipeline.
# Usage: qat_digits.sh QUANTKIT_BIN FIXTURES_DIR   (exit 77: skipped)
set -uo pipefail
build="$(cd "$(dirname "$1")" && pwd)"
bin="$build/qat_digits"
if [ ! -x "$bin" ]; then
  echo "SKIP: $bin was not built (QK_BUILD_EXAMPLES=OFF)"
  exit 77
fi
data="${QK_DIGITS:-/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz}"
if [ ! -f "$data" ]; then
  echo "SKIP: $data is absent: install the Debian package python3-sklearn (apt-get install python3-sklearn)"
  exit 77
fi
if grep -q '^QK_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  "$bin" --data "$data" --quick || { echo "FAIL: qat_digits --quick exited with $?"; exit 1; }
  exit 0
fi
out="$("$bin" --data "$data" --check)"
rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
  echo "FAIL: qat_digits --check exited with $rc"
  exit 1
fi
echo "$out" | grep -q '^acceptance: PASS$' || { echo "FAIL: no PASS line"; exit 1; }
