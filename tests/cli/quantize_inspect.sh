#!/usr/bin/env bash
# quantize / inspect / compare on the fixture models: both fixtures convert to
# GGUF that inspect describes correctly; quantizing the HF fixture to q4_k_m
# stays within (largest tensor in f32) x 4 + 64 MB of memory; compare gives
# zero error against itself; bad input gives one clear line and exit 1.
# labels: fixtures
set -euo pipefail
QK="$1"; FIX="$2"
source "$(dirname "$0")/lib.sh"
require_fixtures "$FIX"
make_tmp
HF=$FIX/models/fixture-llama-7m
L2C=$FIX/models/stories260k

# HF -> GGUF f32: same architecture, vocabulary and shapes as the HF folder
"$QK" quantize "$HF" -o "$QK_TMP/hf.gguf" --type f32 --json > "$QK_TMP/q.json"
"$QK" inspect "$QK_TMP/hf.gguf" --json > "$QK_TMP/gguf.json"
"$QK" inspect "$HF" --json > "$QK_TMP/hf.json"
[ "$(jq -r .format "$QK_TMP/gguf.json")" = gguf ] || { echo "FAIL: format"; exit 1; }
[ "$(jq -r .arch "$QK_TMP/gguf.json")" = llama ] || { echo "FAIL: arch"; exit 1; }
for k in n_vocab n_embd n_ff n_layer n_head n_head_kv head_dim; do
  a=$(jq -r ".hparams.$k" "$QK_TMP/gguf.json"); b=$(jq -r ".hparams.$k" "$QK_TMP/hf.json")
  [ "$a" = "$b" ] || { echo "FAIL: $k $a != $b"; exit 1; }
done
[ "$(jq -r .hparams.n_vocab "$QK_TMP/gguf.json")" = 4096 ] || { echo "FAIL: vocab"; exit 1; }
diff <(jq -c '[.tensors[] | {name, shape}] | sort_by(.name)' "$QK_TMP/gguf.json") \
     <(jq -c '[.tensors[] | {name, shape}] | sort_by(.name)' "$QK_TMP/hf.json") \
  || { echo "FAIL: tensor shapes differ"; exit 1; }
echo "  ok   HF fixture -> GGUF: inspect shows llama, vocab 4096, 57 tensors with HF's shapes"

# llama2.c checkpoint -> GGUF q8_0: ffn_down (172 columns) falls back to f16
"$QK" quantize "$L2C/stories260K.bin" --tokenizer "$L2C/tok512.bin" -o "$QK_TMP/s.gguf" --type q8_0 >/dev/null
"$QK" inspect "$QK_TMP/s.gguf" --json > "$QK_TMP/s.json"
[ "$(jq -r '.hparams | "\(.n_vocab) \(.n_embd) \(.n_ff) \(.n_layer) \(.n_head) \(.n_head_kv)"' "$QK_TMP/s.json")" = "512 64 172 5 8 4" ] \
  || { echo "FAIL: stories260k hparams"; jq .hparams "$QK_TMP/s.json"; exit 1; }
[ "$(jq -r '[.tensors[] | select(.name | test("ffn_down")) | .type] | unique | join(",")' "$QK_TMP/s.json")" = f16 ] \
  || { echo "FAIL: ffn_down should fall back to f16"; exit 1; }
[ "$(jq -r '[.tensors[] | select(.name | test("attn_q")) | .type] | unique | join(",")' "$QK_TMP/s.json")" = q8_0 ] \
  || { echo "FAIL: attn_q should be q8_0"; exit 1; }
echo "  ok   llama2.c checkpoint -> GGUF q8_0: vocab 512, 5 layers, ffn_down in f16"

# memory bound while quantizing the HF fixture to q4_k_m
"$QK" quantize "$HF" -o "$QK_TMP/q4km.gguf" --type q4_k_m --json > "$QK_TMP/q4km.json"
largest=$(jq '[.tensors[] | .shape | reduce .[] as $d (1; . * $d)] | max * 4' "$QK_TMP/hf.json")
limit=$((largest * 4 + 64 * 1024 * 1024))
peak=$(jq .peak_rss_bytes "$QK_TMP/q4km.json")
[ "$peak" -lt "$limit" ] || { echo "FAIL: peak RSS $peak >= $limit"; exit 1; }
echo "  ok   q4_k_m peak RSS $peak bytes < $limit (largest f32 tensor $largest x 4 + 64 MiB)"

# compare: itself -> zero error; q4_k_m -> finite SQNR over all 57 tensors
"$QK" compare "$QK_TMP/hf.gguf" "$HF" --json > "$QK_TMP/c0.json"
[ "$(jq .total.mse "$QK_TMP/c0.json")" = 0 ] || { echo "FAIL: HF vs its f32 GGUF should be exact"; exit 1; }
"$QK" compare "$QK_TMP/hf.gguf" "$QK_TMP/q4km.gguf" --json > "$QK_TMP/c1.json"
[ "$(jq .compared "$QK_TMP/c1.json")" = 57 ] || { echo "FAIL: compared count"; exit 1; }
awk -v s="$(jq .total.sqnr_db "$QK_TMP/c1.json")" 'BEGIN { exit !(s > 15 && s < 40) }' \
  || { echo "FAIL: q4_k_m total SQNR out of the plausible range"; exit 1; }
echo "  ok   compare: exact against itself; q4_k_m total SQNR $(jq .total.sqnr_db "$QK_TMP/c1.json") dB"

# errors: one line on stderr, exit 1, nothing written
set +e
"$QK" quantize "$QK_TMP/missing" -o "$QK_TMP/x.gguf" --type q4_0 2> "$QK_TMP/err"; rc=$?
set -e
[ $rc -eq 1 ] && [ "$(wc -l < "$QK_TMP/err")" -eq 1 ] && grep -q missing "$QK_TMP/err" && [ ! -e "$QK_TMP/x.gguf" ] \
  || { echo "FAIL: missing input: rc $rc"; cat "$QK_TMP/err"; exit 1; }
set +e
"$QK" quantize "$HF" -o "$QK_TMP/x.gguf" --type q9_k 2> "$QK_TMP/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "q9_k" "$QK_TMP/err" || { echo "FAIL: unknown type"; cat "$QK_TMP/err"; exit 1; }
echo "  ok   errors: one line naming the file or type, exit 1, no output file"
