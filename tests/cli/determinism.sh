#!/usr/bin/env bash
# Determinism (issue 9): the same inputs and options give byte-identical
# outputs with 1, 2 and 4 threads (--threads and OMP_NUM_THREADS) and with the
# kernels forced to ref, AVX2 and AVX-512 (QK_ISA; a level the CPU lacks
# falls back to the best one it has, printed below). Covered: quantize to
# q4_0, q8_0, q4_k_m, q6_k; calibrate (importance statistics, with X^T X);
# quantize with those statistics (--imatrix); quantize --method gptq (into
# an AutoGPTQ folder and onto q4_0) and --method awq (AutoAWQ folder) with a
# fixed --seed. Synthetic llama2.c
# model, so no fixtures are needed.
set -euo pipefail
QK="$1"
source "$(dirname "$0")/lib.sh"
make_tmp
IN=$QK_TMP/in
mkdir -p "$IN"
python3 "$(dirname "$0")/make_tiny_llama2c.py" "$IN" 11 1 256  # 1 layer, hidden 256
TOK=(--tokenizer "$IN/tokenizer.bin")
MODEL=$IN/model.bin
for i in $(seq 1 60); do
  echo "Line $i: the quick brown fox $((i * 7919 % 1000)) jumps over the lazy dog; once upon a time."
done > "$IN/calib.txt"
isas=""
for isa in ref avx2 avx512; do isas="$isas $isa->$(QK_ISA=$isa "$QK" version --json | jq -r .isa)"; done
echo "  QK_ISA levels on this CPU:$isas"

# same_bytes LABEL OUTNAME CMD...: run CMD (which writes $QK_TMP/OUTNAME) in
# every configuration; all outputs must be byte-identical to the first.
same_bytes() {
  local label="$1" out="$2"; shift 2
  local ref="" n=0
  for cfg in "t1 ref" "t2 avx2" "t4 avx512" "e2 ref" "t2 avx512"; do
    local th=${cfg%% *} isa=${cfg##* } args=()
    case $th in
      t*) args=(--threads "${th#t}"); env_th=() ;;
      e*) args=(); env_th=(OMP_NUM_THREADS="${th#e}") ;;
    esac
    rm -rf "${QK_TMP:?}/$out"
    env "${env_th[@]}" QK_ISA="$isa" "$@" "${args[@]}" > /dev/null
    local s
    if [ -d "$QK_TMP/$out" ]; then s=$(cd "$QK_TMP/$out" && sha256sum ./* | sha256sum)
    else s=$(sha256sum < "$QK_TMP/$out"); fi
    if [ -z "$ref" ]; then ref=$s
    elif [ "$s" != "$ref" ]; then
      echo "FAIL: $label differs with threads=$th isa=$isa"; exit 1
    fi
    n=$((n + 1))
  done
  printf '  ok   %-38s identical in %d configurations (threads 1/2/4 and OMP_NUM_THREADS=2 x ref/avx2/avx512)\n' "$label" "$n"
}

for t in q4_0 q8_0 q4_k_m q6_k; do
  same_bytes "quantize --type $t" "q_$t.gguf" "$QK" quantize "$MODEL" "${TOK[@]}" -o "$QK_TMP/q_$t.gguf" --type "$t"
done
CAL=(calibrate "$MODEL" "${TOK[@]}" --calib "$IN/calib.txt" --samples 6 --len 48 --seed 3)
same_bytes "calibrate (imatrix)" stats.gguf "$QK" "${CAL[@]}" -o "$QK_TMP/stats.gguf"
same_bytes "calibrate --xtx" xtx.gguf "$QK" "${CAL[@]}" --xtx -o "$QK_TMP/xtx.gguf"
"$QK" "${CAL[@]}" -o "$IN/stats.gguf" > /dev/null
same_bytes "quantize --imatrix (q4_k_m)" qi.gguf "$QK" quantize "$MODEL" "${TOK[@]}" --imatrix "$IN/stats.gguf" -o "$QK_TMP/qi.gguf" --type q4_k_m
same_bytes "quantize --imatrix (q4_0)" qi0.gguf "$QK" quantize "$MODEL" "${TOK[@]}" --imatrix "$IN/stats.gguf" -o "$QK_TMP/qi0.gguf" --type q4_0

# GPTQ / AWQ through quantize (calibrated pipeline), fixed --seed
if "$QK" quantize --help 2>&1 | grep -q -- "--calib-samples"; then
  PTQ=(--calib "$IN/calib.txt" --calib-samples 2 --calib-len 32 --seed 5)
  same_bytes "quantize --method gptq (gptq folder)" m_gptq "$QK" quantize "$MODEL" "${TOK[@]}" \
    --method gptq "${PTQ[@]}" --format gptq --bits 4 --group 128 -o "$QK_TMP/m_gptq"
  same_bytes "quantize --method gptq (q4_0 GGUF)" m_gptq.gguf "$QK" quantize "$MODEL" "${TOK[@]}" \
    --method gptq "${PTQ[@]}" --type q4_0 --pure -o "$QK_TMP/m_gptq.gguf"
  same_bytes "quantize --method awq (awq folder)" m_awq "$QK" quantize "$MODEL" "${TOK[@]}" \
    --method awq "${PTQ[@]}" --awq-search-seqs 1 --format awq -o "$QK_TMP/m_awq"
else
  echo "  --   quantize --method gptq/awq --calib: not in this build (skipped)"
fi
echo "PASS"
