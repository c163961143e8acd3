#!/usr/bin/env bash
# valgrind memcheck over a representative subset of the test suite, part of
# scripts/test.sh: the unit tests of core, the quantization formats, calib,
# io, tokenizers, the model forward pass and qat, plus every fuzz regression
# corpus (hostile files: memcheck also sees reads of uninitialised memory,
# which ASan does not). Any memcheck error or leak (definite, indirect or
# possible) fails the run; tests/valgrind.supp silences only libgomp's and
# OpenBLAS's thread-pool allocations. Wall-time assertions are skipped
# (QK_TEST_NO_TIMING=1).
#
#   scripts/valgrind.sh [BUILD_DIR]     # default: build (built if missing)
#
# QK_VALGRIND_TESTS overrides the subset and QK_VALGRIND_EXCLUDE the
# exclusions (regular expressions over executable names, e.g. 'test_io_.*').
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
build="${1:-build}"
if ! command -v valgrind >/dev/null; then
  echo "valgrind: not installed (scripts/bootstrap.sh installs it)" >&2
  exit 1
fi
[ -d "$build" ] || scripts/build.sh "$build" -DQK_WERROR=ON
cmake --build "$build" -j"$(nproc)" >/dev/null
subset="${QK_VALGRIND_TESTS:-test_(core|ggml|quant|calib|io|tokenizer|model_forward|qat)(_.*)?|fuzz_.*_regress}"
# Left out: test_metrics (valgrind computes long double in 64 bits, which its
# reference sums need) and test_ggml_golden (reads the MB-sized golden GGUF
# files: five minutes under memcheck; the ASan pass runs it).
exclude="${QK_VALGRIND_EXCLUDE:-test_metrics|test_ggml_golden}"
logs="$(cd "$build" && pwd)/valgrind"
mkdir -p "$logs"
rm -f "$logs"/*.log

# One line per run: NAME<TAB>DIRECTORY<TAB>COMMAND...
jobs_file="$logs/jobs.txt"
: >"$jobs_file"
# the slowest first, so that the two queues finish together
for exe in "$build"/test_ggml_kquants "$build"/test_model_forward "$build"/test_tokenizer_spm \
  "$build"/test_*; do
  name="$(basename "$exe")"
  [ -x "$exe" ] && [[ "$name" =~ ^($subset)$ ]] && ! [[ "$name" =~ ^($exclude)$ ]] || continue
  grep -q "^$name"$'\t' "$jobs_file" && continue
  printf '%s\t%s\t./%s\n' "$name" "$build" "$name" >>"$jobs_file"
done
for exe in "$build"/tests/fuzz/fuzz_*_regress; do
  name="$(basename "$exe")"
  [ -x "$exe" ] && [[ "$name" =~ ^($subset)$ ]] || continue
  target="${name#fuzz_}"
  target="${target%_regress}"
  printf '%s\t%s\t./%s %s\n' "$name" "$build/tests/fuzz" "$name" \
    "$root/tests/fuzz/corpus/$target" >>"$jobs_file"
done
if [ ! -s "$jobs_file" ]; then
  echo "valgrind: no test executables match '$subset' in $build" >&2
  exit 1
fi

run_one() {
  local name="$1" dir="$2" cmd="$3" log="$4/$1.log" supp="$5" start rc
  start=$(date +%s)
  set +e
  (cd "$dir" && QK_TEST_NO_TIMING=1 OMP_NUM_THREADS=2 valgrind --tool=memcheck \
    --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --num-callers=40 \
    --suppressions="$supp" $cmd) >"$log" 2>&1
  rc=$?
  set -e
  case "$rc" in
    0) echo "valgrind: $name: clean ($(( $(date +%s) - start )) s)" ;;
    77) echo "valgrind: $name: skipped (exit 77)" ;;
    99) echo "valgrind: $name: MEMCHECK ERRORS (log: $log)"; return 1 ;;
    *) echo "valgrind: $name: FAILED with exit $rc (log: $log)"; return 1 ;;
  esac
}
export -f run_one

start=$(date +%s)
failed=0
tr '\t' '\n' <"$jobs_file" | xargs -d '\n' -n 3 -P "$(nproc)" \
  bash -c 'run_one "$3" "$4" "$5" "$1" "$2"' _ "$logs" "$root/tests/valgrind.supp" 2>&1 ||
  failed=1
echo "valgrind: $(wc -l <"$jobs_file") programs in $(( $(date +%s) - start )) s"
if [ "$failed" -ne 0 ]; then
  for log in "$logs"/*.log; do
    if grep -q "ERROR SUMMARY: [1-9]\|FAILED\|Failure" "$log"; then
      echo "---- $log" >&2
      grep -v '^\[ *\(OK\|RUN\) *\]' "$log" | tail -60 >&2
    fi
  done
  exit 1
fi
