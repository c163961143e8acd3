#!/usr/bin/env bash
# The whole test suite: bootstrap, check the layout with clang-format, build
# with -Werror, run every test, then
# the suite again under AddressSanitizer + UndefinedBehaviorSanitizer, a short
# libFuzzer run of every fuzz target, and a valgrind memcheck subset.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# quantkit's parallel regions are coarse; OpenMP threads that sleep instead
# of spinning between them cost nothing here and keep a shared or
# oversubscribed machine (ctest -j, other jobs) from slowing down many-fold.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
scripts/bootstrap.sh
if [ ! -d ../shared/fixtures ]; then
  echo "test: ../shared/fixtures is absent: tests that need it will be skipped" >&2
fi
jobs="$(nproc)"

echo "== layout (clang-format)"
scripts/format-check.sh

echo "== release build + tests"
scripts/build.sh build -DQK_WERROR=ON
(cd build && ctest --output-on-failure -j"$jobs")

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build + tests"
scripts/build.sh build-asan -DQK_WERROR=ON -DQK_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
# OpenBLAS and libgomp keep thread-local allocations alive at exit; leak
# checking of our own code stays on.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp"
(cd build-asan && ctest --output-on-failure -j"$jobs" -LE slow)

echo "== fuzz smoke run (libFuzzer + ASan + UBSan, clang; about 60 s)"
scripts/fuzz-smoke.sh

echo "== valgrind memcheck over a subset of the suite"
scripts/valgrind.sh build
echo "== all tests passed"
