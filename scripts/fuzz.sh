#!/usr/bin/env bash
# libFuzzer runs (clang): build the fuzz targets in build-fuzz, then fuzz one.
#
#   scripts/fuzz.sh list                      # the targets
#   scripts/fuzz.sh build                     # only (re)build build-fuzz
#   scripts/fuzz.sh TARGET [RUNS] [OPTIONS]   # e.g. scripts/fuzz.sh gguf_read 1000000
#
# RUNS defaults to 1000000 executions (-runs); 0 means no limit (stop with
# Ctrl-C, or pass -max_total_time=SECONDS). Extra OPTIONS go to libFuzzer
# (-jobs=2, -max_len=65536 ...). The seed corpus tests/fuzz/corpus/TARGET is
# read, never written: new inputs go to build-fuzz/corpus/TARGET, crashes,
# leaks and timeouts to build-fuzz/artifacts/TARGET/. Turn every crash into a
# regression input: copy it into tests/fuzz/corpus/TARGET/ (named after the
# bug) together with the fix; ctest's fuzz_regress_TARGET then replays it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build=build-fuzz
targets() { ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||'; }

if [ $# -lt 1 ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
if [ "$1" = list ]; then
  targets
  exit 0
fi

CC="${QK_FUZZ_CC:-clang}"
if ! command -v "$CC" >/dev/null; then
  echo "fuzz: $CC not found (scripts/bootstrap.sh installs clang)" >&2
  exit 1
fi
# Warnings are the -Werror builds' business; here only the instrumentation matters.
cmake -S "$root" -B "$root/$build" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQK_BUILD_FUZZ=ON -DQK_BUILD_TESTS=OFF -DQK_BUILD_TOOLS=OFF -DQK_BUILD_EXAMPLES=OFF \
  -DQK_WERROR=OFF >/dev/null
cmake --build "$root/$build" -j"${QK_FUZZ_BUILD_JOBS:-2}" >/dev/null
[ "$1" = build ] && exit 0

target="$1"
shift
exe="$build/tests/fuzz/fuzz_$target"
if [ ! -x "$exe" ]; then
  echo "fuzz: unknown target '$target'; targets: $(targets | tr '\n' ' ')" >&2
  exit 2
fi
runs=1000000
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  runs="$1"
  shift
fi
runs_opt=()
[ "$runs" != 0 ] && runs_opt=(-runs="$runs")
# QK_FUZZ_CORPUS: the folder new inputs go to (default build-fuzz/corpus/TARGET)
corpus="${QK_FUZZ_CORPUS:-$build/corpus/$target}"
mkdir -p "$corpus" "$build/artifacts/$target"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$exe" "${runs_opt[@]}" -timeout=20 -rss_limit_mb=2048 -max_len=262144 \
  -print_final_stats=1 -artifact_prefix="$build/artifacts/$target/" "$@" \
  "$corpus" "tests/fuzz/corpus/$target"
