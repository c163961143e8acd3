#!/usr/bin/env bash
# Hugging Face checkpoints from the command line: the HF fixture quantized
# with RTN W4 g128 (asymmetric) into AutoGPTQ v1 and v2, AutoAWQ GEMM and
# compressed-tensors folders, each with its format's files and config;
# inspect lists the linears as dequantized f32 with their packed sizes;
# compare against the HF model gives identical per-tensor errors for all four
# formats and for an f32 GGUF holding the dequantized weights; eval (4
# chunks) of each checkpoint equals eval of that GGUF to 1e-6 relative;
# refusals are one line and exit 1. (test_ckpt_fixture checks the same
# weights against RTN computed without any checkpoint code.)
# labels: slow fixtures
set -euo pipefail
QK="$1"; FIX="$2"
source "$(dirname "$0")/lib.sh"
require_fixtures "$FIX"
make_tmp
HF=$FIX/models/fixture-llama-7m
TEXT=$FIX/text/kjv-luke.txt

for f in gptq gptq_v2 awq compressed-tensors; do
  "$QK" quantize "$HF" -o "$QK_TMP/$f" --format "$f" --bits 4 --group 128 --json > "$QK_TMP/$f.q.json"
  [ -f "$QK_TMP/$f/model.safetensors" ] && [ -f "$QK_TMP/$f/config.json" ] \
    && [ -f "$QK_TMP/$f/tokenizer.model" ] || { echo "FAIL: $f: files missing"; ls "$QK_TMP/$f"; exit 1; }
  method=$(jq -r .quantization_config.quant_method "$QK_TMP/$f/config.json")
  want=$f; [ "$f" = gptq_v2 ] && want=gptq
  [ "$method" = "$want" ] || { echo "FAIL: $f: quant_method $method"; exit 1; }
  printf '  ok   %-20s %9s bytes, linears %s bits/weight\n' "$f" \
    "$(jq .bytes "$QK_TMP/$f.q.json")" "$(jq .bits_per_weight "$QK_TMP/$f.q.json")"
done
[ "$(jq -r .checkpoint_format "$QK_TMP/gptq/quantize_config.json")" = gptq ] || { echo "FAIL: v1"; exit 1; }
[ "$(jq -r .checkpoint_format "$QK_TMP/gptq_v2/quantize_config.json")" = gptq_v2 ] || { echo "FAIL: v2"; exit 1; }
[ "$(jq -r .quantization_config.version "$QK_TMP/awq/config.json")" = gemm ] || { echo "FAIL: awq"; exit 1; }
[ "$(jq -r .quantization_config.format "$QK_TMP/compressed-tensors/config.json")" = pack-quantized ] \
  || { echo "FAIL: compressed-tensors format"; exit 1; }

# inspect: 42 linears as f32, packed (q_proj 256x256 at 4 bits + g128 f16 scales + zeros + g_idx)
"$QK" inspect "$QK_TMP/gptq" --json > "$QK_TMP/i.json"
[ "$(jq '[.tensors[] | select(.type == "f32")] | length' "$QK_TMP/i.json")" = 42 ] \
  || { echo "FAIL: inspect should list 42 f32 linears"; exit 1; }
# qweight 32x256x4 + qzeros 2x32x4 + scales 2x256x2 + g_idx 256x4 = 32768+256+1024+1024
[ "$(jq '.tensors[] | select(.name == "blk.0.attn_q.weight") | .bytes' "$QK_TMP/i.json")" = 35072 ] \
  || { echo "FAIL: inspect bytes of attn_q"; exit 1; }
echo "  ok   inspect: 42 quantized linears listed as f32, attn_q 35072 stored bytes"

# the dequantized weights as an f32 GGUF
"$QK" quantize "$QK_TMP/gptq" -o "$QK_TMP/deq.gguf" --type f32 > /dev/null
"$QK" compare "$HF" "$QK_TMP/deq.gguf" --json | jq -c '[.tensors[] | [.name, .mse, .max_error, .sqnr_db]]' > "$QK_TMP/c.ref"
for f in gptq gptq_v2 awq compressed-tensors; do
  "$QK" compare "$HF" "$QK_TMP/$f" --json | jq -c '[.tensors[] | [.name, .mse, .max_error, .sqnr_db]]' > "$QK_TMP/c.$f"
  cmp -s "$QK_TMP/c.ref" "$QK_TMP/c.$f" || { echo "FAIL: compare $f differs from the dequantized GGUF"; exit 1; }
done
echo "  ok   compare vs HF: identical per-tensor errors for the 4 formats and the f32 GGUF" \
     "(total SQNR $("$QK" compare "$HF" "$QK_TMP/awq" --json | jq .total.sqnr_db) dB)"

want=$(ppl_of "$QK" eval "$QK_TMP/deq.gguf" --text "$TEXT" --chunks 4)
for f in gptq gptq_v2 awq compressed-tensors; do
  check_rel "eval $f (4 chunks) vs f32 GGUF" "$(ppl_of "$QK" eval "$QK_TMP/$f" --text "$TEXT" --chunks 4)" "$want" 1e-6
done

# refusals: one line on stderr, exit 1
set +e
err=$("$QK" quantize "$HF" -o "$QK_TMP/gptq" --format gptq 2>&1 >/dev/null); rc=$?
set -e
[ $rc = 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && [[ "$err" == *"not empty"* ]] \
  || { echo "FAIL: existing output folder: rc $rc, '$err'"; exit 1; }
set +e
err=$("$QK" quantize "$HF" -o "$QK_TMP/x" --format awq --bits 3 2>&1 >/dev/null); rc=$?
set -e
[ $rc = 1 ] && [[ "$err" == *"4-bit"* ]] || { echo "FAIL: awq 3-bit: rc $rc, '$err'"; exit 1; }
[ ! -e "$QK_TMP/x" ] || { echo "FAIL: a refused checkpoint left a folder"; exit 1; }
echo "  ok   refusals: existing folder, AWQ 3-bit"
