#!/usr/bin/env bash
# The main job: bootstrap, build, then quantize a real model to several types
# and measure what each cost: file size, bits per weight, perplexity and KL
# divergence to the f32 model on held-in text (llama-perplexity's method),
# next to llama.cpp's numbers for the same files where reference.json has them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# quantkit's parallel regions are coarse; OpenMP threads that sleep instead
# of spinning between them cost nothing here and keep a shared or
# oversubscribed machine (ctest -j, other jobs) from slowing down many-fold.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
scripts/bootstrap.sh
scripts/build.sh build -DQK_WERROR=ON
QK=./build/quantkit
FIX="${QK_FIXTURES:-$root/../shared/fixtures}"
if [ ! -d "$FIX" ]; then
  echo "main-job: $FIX is absent, so there is no real model to quantize;" >&2
  echo "main-job: running the tensor example instead." >&2
  exec ./build/quantize_tensors
fi
MODEL="$FIX/models/fixture-llama-7m"
TEXT="$FIX/text/kjv-luke.txt"
OUT="$root/out/main-job"
mkdir -p "$OUT"
echo "model: $MODEL (Hugging Face safetensors, bf16)"
echo "eval text: $TEXT, ctx 512, every chunk; KL is mean KL(f32 || quantized) per scored token"
echo
$QK quantize "$MODEL" -o "$OUT/f32.gguf" --type f32 --json >/dev/null   # the reference for KL
printf '%-8s %12s %8s %10s %10s %10s %12s %9s\n' type bytes bpw ppl "+/-" kl "llama.cpp" quant_s
for t in f32 q8_0 q6_k q5_k_m q4_k_m q4_0 q3_k_m q2_k; do
  q=$($QK quantize "$MODEL" -o "$OUT/$t.gguf" --type "$t" --json)
  e=$($QK eval "$OUT/$t.gguf" --text "$TEXT" --ref "$OUT/f32.gguf" --json)
  ref_key=$(echo "$t" | tr a-z A-Z)
  [ "$t" = q6_k ] && ref_key=Q6_K-pure
  ref=$(jq -r --arg k "$ref_key" '.["fixture-llama-7m"].quality_eval.ppl[$k] // "-"' "$FIX/reference.json")
  printf '%-8s %12s %8.4f %10.4f %10.4f %10.6f %12s %9.2f\n' "$t" \
    "$(echo "$q" | jq -r .bytes)" "$(echo "$q" | jq -r .bits_per_weight)" \
    "$(echo "$e" | jq -r .ppl)" "$(echo "$e" | jq -r .ppl_stderr)" "$(echo "$e" | jq -r .kl)" \
    "$ref" "$(echo "$q" | jq -r .seconds)"
done
echo
echo "files in $OUT; llama.cpp column: llama-perplexity on llama.cpp's own file of that type"
echo "(q6_k: its --pure file); quantkit's K-quants search scales harder, so sizes match and"
echo "errors are a little lower."
