#!/usr/bin/env bash
# Perplexity equals llama.cpp's reference numbers (../shared/fixtures/
# reference.json): f32 within 0.1% relative, llama.cpp's quantized files within
# 0.5%; and one model in several containers gives the same f32 perplexity to
# 1e-4 relative.
# labels: slow fixtures
set -euo pipefail
QK="$1"; FIX="$2"
source "$(dirname "$0")/lib.sh"
require_fixtures "$FIX"
make_tmp

S=$FIX/golden/llama.cpp/stories260k
M=$FIX/golden/llama.cpp/fixture-llama-7m
TINY=$FIX/text/tinystories_val.txt
WIKI=$FIX/text/wiki.test.raw

# stories260k, every chunk of tinystories_val.txt at ctx 512
for f in f32 Q8_0fb Q4_0fb; do
  tol=0.005; [ "$f" = f32 ] && tol=0.001
  got=$(ppl_of "$QK" eval "$S/stories260K-$f.gguf" --text "$TINY" --ctx 512)
  want=$(ref_value "$FIX" '.stories260k.ppl["'$f'"]')
  check_rel "stories260k $f" "$got" "$want" "$tol"
done
# the same model from the llama.c checkpoints (legacy and v1) and the GGUF, 40 chunks
a=$(ppl_of "$QK" eval "$S/stories260K-f32.gguf" --text "$TINY" --chunks 40)
b=$(ppl_of "$QK" eval "$FIX/models/stories260k/stories260K.bin" --tokenizer "$FIX/models/stories260k/tok512.bin" --text "$TINY" --chunks 40)
c=$(ppl_of "$QK" eval "$FIX/models/stories260k/stories260K_v1.bin" --tokenizer "$FIX/models/stories260k/tok512.bin" --text "$TINY" --chunks 40)
check_rel "stories260k llama2c legacy vs gguf" "$b" "$a" 1e-4
check_rel "stories260k llama2c v1 vs gguf" "$c" "$a" 1e-4
"$QK" quantize "$FIX/models/stories260k/stories260K.bin" --tokenizer "$FIX/models/stories260k/tok512.bin" \
  -o "$QK_TMP/s-f32.gguf" --type f32 >/dev/null
d=$(ppl_of "$QK" eval "$QK_TMP/s-f32.gguf" --text "$TINY" --chunks 40)
check_rel "stories260k quantkit's GGUF vs llama.cpp's" "$d" "$a" 1e-4

# fixture-llama-7m, first 100 chunks of wiki.test.raw at ctx 512
hf=$(ppl_of "$QK" eval "$FIX/models/fixture-llama-7m" --text "$WIKI" --chunks 100)
check_rel "fixture-llama-7m HF safetensors" "$hf" "$(ref_value "$FIX" '.["fixture-llama-7m"].ppl.F32')" 0.001
f32=$(ppl_of "$QK" eval "$M/fixture-llama-7m-F32.gguf" --text "$WIKI" --chunks 100)
check_rel "fixture-llama-7m llama.cpp F32 GGUF vs HF" "$f32" "$hf" 1e-4
"$QK" quantize "$FIX/models/fixture-llama-7m" -o "$QK_TMP/qk-f32.gguf" --type f32 >/dev/null
mine=$(ppl_of "$QK" eval "$QK_TMP/qk-f32.gguf" --text "$WIKI" --chunks 100)
check_rel "fixture-llama-7m quantkit's F32 GGUF vs HF" "$mine" "$hf" 1e-4
for f in Q8_0 Q4_0 Q4_K_M Q4_K-pure Q6_K-pure Q2_K-pure; do
  got=$(ppl_of "$QK" eval "$M/fixture-llama-7m-$f.gguf" --text "$WIKI" --chunks 100)
  check_rel "fixture-llama-7m $f" "$got" "$(ref_value "$FIX" '.["fixture-llama-7m"].ppl["'$f'"]')" 0.005
done
echo "eval_reference: all perplexities within tolerance"
