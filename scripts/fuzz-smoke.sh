#!/usr/bin/env bash
# Fuzz smoke run, part of scripts/test.sh: build the libFuzzer targets with
# clang (build-fuzz), then run each one for a fixed number of executions
# with a fixed seed, so that every run does exactly the same work: it first
# replays its seed corpus (tests/fuzz/corpus/TARGET), then mutates, keeping
# new inputs in a scratch folder emptied first (build-fuzz/smoke/TARGET; the
# inputs of deep runs in build-fuzz/corpus are not read). Two targets run
# at a time; the counts below take about 5 s of CPU each, 60 s in all (about
# 30 s on 2 idle cores). A crash, leak, sanitizer report or timeout fails
# the run; the input is in build-fuzz/artifacts/TARGET/.
#
#   QK_FUZZ_SEED      libFuzzer -seed (default 1)
#   QK_FUZZ_SCALE     multiplies every count, in percent (default 100)
#   QK_FUZZ_MAX_TIME  seconds after which a target stops early (default 120)
#
# Deep runs: scripts/fuzz.sh TARGET RUNS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seed="${QK_FUZZ_SEED:-1}"
scale="${QK_FUZZ_SCALE:-100}"
max_time="${QK_FUZZ_MAX_TIME:-120}"
# executions per target (measured CPU time: about 5 s each)
declare -A runs=(
  [ckpt_config]=80000 [dequant_blocks]=100000 [dequant_codebook]=60000 [gguf_read]=6000
  [hf_config]=300000 [llama2c_header]=100000 [model_source_hf]=14000
  [safetensors_header]=50000 [tokenizer_json]=40000 [tokenizer_llama2c]=20000
  [tokenizer_spm_model]=20000 [quant_config]=30000
)
default_runs=20000
jobs=2
scripts/fuzz.sh build
mapfile -t targets < <(scripts/fuzz.sh list)
mkdir -p build-fuzz/logs
total_start=$(date +%s)
# One target: its log, then one line on stdout (or the failure on stderr);
# the exit status says whether it found something.
smoke_one() {
  local t="$1" n log start done_runs
  n=$(( ${runs[$t]:-$default_runs} * scale / 100 ))
  [ "$n" -lt 1 ] && n=1
  log="build-fuzz/logs/smoke-$t.log"
  rm -rf "build-fuzz/smoke/$t"
  mkdir -p "build-fuzz/smoke/$t"
  start=$(date +%s)
  if QK_FUZZ_CORPUS="build-fuzz/smoke/$t" scripts/fuzz.sh "$t" "$n" -seed="$seed" \
    -max_total_time="$max_time" >"$log" 2>&1; then
    done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz-smoke: $t: ${done_runs:-?} executions (seed $seed) in $(( $(date +%s) - start )) s, no findings"
  else
    { echo "fuzz-smoke: $t FAILED (log: $log)"; grep -v '^#[0-9]' "$log" | tail -40; } >&2
    return 1
  fi
}
failed=0
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  smoke_one "$t" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
echo "fuzz-smoke: ${#targets[@]} targets in $(( $(date +%s) - total_start )) s"
exit "$failed"
