#!/usr/bin/env bash
# Fuzz smoke run, part of scripts/test.sh: build the libFuzzer targets with
# clang (build-fuzz), then run each one for a few seconds: it first replays
# its seed corpus (tests/fuzz/corpus/TARGET) and the inputs earlier runs kept
# (build-fuzz/corpus/TARGET), then mutates. QK_FUZZ_SMOKE_SECONDS (default 60)
# is the fuzzing time shared by all targets. A crash, leak, sanitizer report
# or timeout fails the run; the input is in build-fuzz/artifacts/TARGET/.
# Deep runs: scripts/fuzz.sh TARGET RUNS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
total="${QK_FUZZ_SMOKE_SECONDS:-60}"
scripts/fuzz.sh build
mapfile -t targets < <(scripts/fuzz.sh list)
per=$((total / ${#targets[@]}))
[ "$per" -lt 2 ] && per=2
mkdir -p build-fuzz/logs
failed=0
for t in "${targets[@]}"; do
  log="build-fuzz/logs/smoke-$t.log"
  start=$(date +%s)
  if scripts/fuzz.sh "$t" 0 -max_total_time="$per" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz-smoke: $t: ${runs:-?} executions in $(( $(date +%s) - start )) s, no findings"
  else
    failed=1
    echo "fuzz-smoke: $t FAILED (log: $log)" >&2
    grep -v '^#[0-9]' "$log" | tail -40 >&2
  fi
done
exit "$failed"
