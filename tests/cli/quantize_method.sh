#!/usr/bin/env bash
# quantize --method with calibration (2 windows of 64 tokens, 1 thread):
# GPTQ W4 g128 into an AutoGPTQ folder (every linear by GPTQ, seconds and
# peak memory in --json; the folder evaluates, and its weights equal those
# of an f32 GGUF made from the same run: compare gives identical errors),
# AWQ W4 g128 into an AutoAWQ folder (folded norms differ from the source),
# GPTQ onto pure q4_0 GGUF with --measure (every linear's H-weighted error
# below round-to-nearest q4_0's on the same activations); refusals.
# labels: fixtures
set -euo pipefail
QK="$1"; FIX="$2"
source "$(dirname "$0")/lib.sh"
require_fixtures "$FIX"
make_tmp
HF=$FIX/models/fixture-llama-7m
TEXT=$FIX/text/kjv-luke.txt
CAL=(--calib "$FIX/text/calib.txt" --calib-samples 2 --calib-len 64 --threads 1)

"$QK" quantize "$HF" -o "$QK_TMP/g4" --format gptq --bits 4 --group 128 --method gptq "${CAL[@]}" \
  --json > "$QK_TMP/g4.json"
[ "$(jq -r .ptq.method "$QK_TMP/g4.json")" = gptq ] || { echo "FAIL: method"; exit 1; }
[ "$(jq '[.ptq.linears[] | select(.gptq)] | length' "$QK_TMP/g4.json")" = 42 ] \
  || { echo "FAIL: 42 linears by GPTQ"; exit 1; }
jq -e '.seconds > 0 and .peak_rss_bytes > 1000000 and .ptq.samples == 2 and .ptq.len == 64' \
  "$QK_TMP/g4.json" > /dev/null || { echo "FAIL: seconds / peak_rss_bytes / samples"; exit 1; }
[ "$(jq -r .quantization_config.quant_method "$QK_TMP/g4/config.json")" = gptq ] \
  || { echo "FAIL: gptq config"; exit 1; }
echo "  ok   gptq W4 g128 checkpoint: 42 linears by GPTQ, $(jq .seconds "$QK_TMP/g4.json") s," \
     "peak $(jq .peak_rss_bytes "$QK_TMP/g4.json") bytes"
# the same run into an f32 GGUF (dequantized weights): identical per-tensor errors
"$QK" quantize "$HF" -o "$QK_TMP/g4.gguf" --bits 4 --group 128 --method gptq "${CAL[@]}" > /dev/null
"$QK" compare "$HF" "$QK_TMP/g4.gguf" --json | jq -c '[.tensors[] | [.name, .mse, .max_error]]' > "$QK_TMP/c1"
"$QK" compare "$HF" "$QK_TMP/g4" --json | jq -c '[.tensors[] | [.name, .mse, .max_error]]' > "$QK_TMP/c2"
cmp -s "$QK_TMP/c1" "$QK_TMP/c2" || { echo "FAIL: checkpoint and f32 GGUF of the same run differ"; exit 1; }
check_rel "eval gptq folder (2 chunks) vs its f32 GGUF" \
  "$(ppl_of "$QK" eval "$QK_TMP/g4" --text "$TEXT" --chunks 2 --threads 1)" \
  "$(ppl_of "$QK" eval "$QK_TMP/g4.gguf" --text "$TEXT" --chunks 2 --threads 1)" 1e-6

"$QK" quantize "$HF" -o "$QK_TMP/a4" --format awq --method awq --awq-search-seqs 1 "${CAL[@]}" \
  --json > "$QK_TMP/a4.json"
[ "$(jq -r .quantization_config.quant_method "$QK_TMP/a4/config.json")" = awq ] \
  || { echo "FAIL: awq config"; exit 1; }
jq -e '.ptq.awq_seconds > 0' "$QK_TMP/a4.json" > /dev/null || { echo "FAIL: awq_seconds"; exit 1; }
"$QK" compare "$HF" "$QK_TMP/a4" --json > "$QK_TMP/ca.json"
jq -e '[.tensors[] | select(.name | test("attn_norm")) | .mse] | all(. > 0)' "$QK_TMP/ca.json" \
  > /dev/null || { echo "FAIL: AWQ should have folded scales into every attn_norm"; exit 1; }
echo "  ok   awq W4 g128 checkpoint: AutoAWQ config, scales folded into the norms"

"$QK" quantize "$HF" -o "$QK_TMP/q.gguf" --type q4_0 --pure --method gptq --measure "${CAL[@]}" \
  --json > "$QK_TMP/q.json"
[ "$(jq '[.ptq.linears[] | select(.err_h < .err_h_rtn and .err_h > 0)] | length' "$QK_TMP/q.json")" = 42 ] \
  || { echo "FAIL: GPTQ q4_0 should beat RTN q4_0 on every linear"; jq -c .ptq.linears "$QK_TMP/q.json"; exit 1; }
echo "  ok   gptq q4_0: every linear below RTN (mean ratio" \
     "$(jq '[.ptq.linears[] | .err_h / .err_h_rtn] | add / length' "$QK_TMP/q.json"))"

# refusals: one line, exit 1
for args in "--method gptq" "--method foo --calib $FIX/text/calib.txt" \
            "--format awq --bits 3 --method gptq --calib $FIX/text/calib.txt"; do
  set +e
  # shellcheck disable=SC2086
  err=$("$QK" quantize "$HF" -o "$QK_TMP/r" $args 2>&1 >/dev/null); rc=$?
  set -e
  [ $rc = 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || { echo "FAIL: '$args': rc $rc, '$err'"; exit 1; }
  [ ! -e "$QK_TMP/r" ] || { echo "FAIL: '$args' left output"; exit 1; }
done
echo "  ok   refusals: no --calib, unknown method, AWQ 3-bit"
