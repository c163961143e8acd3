#!/usr/bin/env bash
# Non-finite and extreme weights through `quantkit quantize` (issue 9,
# docs/NONFINITE.md): a NaN or an infinity fails the run naming the tensor
# and the element (row, column); --allow-nonfinite replaces them by 0, which
# gives byte for byte the output of the same model with zeros written there;
# a value beyond f16 fails --type f16, and 3e38 fails q4_k_m, naming the
# tensor; no output is left by a failed run. Synthetic llama2.c model.
set -euo pipefail
QK="$1"
source "$(dirname "$0")/lib.sh"
make_tmp
IN=$QK_TMP/in
mkdir -p "$IN"
python3 "$(dirname "$0")/make_tiny_llama2c.py" "$IN" 3
TOK=(--tokenizer "$IN/tokenizer.bin")
# legacy llama2.c layout: 28-byte header, token_embedding [259, 256], rms_att
# [2, 256], wq [2, 256, 256], wk [2, 256, 256], wv [2, 256, 256], ...
EMB=28; WV=$((28 + 4 * (259 * 256 + 2 * 256 + 2 * 2 * 256 * 256)))
# poke FILE OFFSET FLOAT: overwrite one f32
poke() { python3 -c 'import struct,sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(struct.pack("<f", float(sys.argv[3])))' "$@"; }
# the file name goes into general.name: same name in two folders
mkdir -p "$IN/bad" "$IN/zeroed"
cp "$IN/model.bin" "$IN/bad/model.bin"; cp "$IN/model.bin" "$IN/zeroed/model.bin"
poke "$IN/bad/model.bin" $((EMB + 4 * 1000)) nan     # token_embd row 3, column 232
poke "$IN/bad/model.bin" $((WV + 4 * 300)) -inf      # blk.0.attn_v row 1, column 44
poke "$IN/zeroed/model.bin" $((EMB + 4 * 1000)) 0
poke "$IN/zeroed/model.bin" $((WV + 4 * 300)) 0

expect_fail() {  # expect_fail PATTERN ARGS...: exit 1, stderr has PATTERN, no output file
  local pat="$1"; shift
  set +e; "$QK" quantize "$@" > /dev/null 2> "$QK_TMP/err"; local rc=$?; set -e
  [ "$rc" -eq 1 ] || { echo "FAIL: exit $rc for $*"; cat "$QK_TMP/err"; exit 1; }
  grep -qF -- "$pat" "$QK_TMP/err" || { echo "FAIL: message lacks '$pat':"; cat "$QK_TMP/err"; exit 1; }
  [ ! -e "$QK_TMP/out.gguf" ] || { echo "FAIL: a failed run left output"; exit 1; }
  [ -z "$(find "$QK_TMP" -maxdepth 1 -name '.*qk-tmp-*')" ] || { echo "FAIL: temporary left"; exit 1; }
  echo "  ok   $(head -1 "$QK_TMP/err" | cut -c1-160)"
}

for t in q8_0 f16; do
  expect_fail "tensor 'token_embd.weight': 1 non-finite value; element 1000 (row 3, column 232) is nan" \
    "$IN/bad/model.bin" "${TOK[@]}" -o "$QK_TMP/out.gguf" --type "$t"
done
poke "$IN/bad/model.bin" $((EMB + 4 * 1000)) 0.25
expect_fail "tensor 'blk.0.attn_v.weight': 1 non-finite value; element 300 (row 1, column 44) is -inf" \
  "$IN/bad/model.bin" "${TOK[@]}" -o "$QK_TMP/out.gguf" --type q4_0
poke "$IN/bad/model.bin" $((EMB + 4 * 1000)) nan

# --allow-nonfinite: zeros, exactly as if the file had them
for t in q4_k_m q8_0 f16 f32; do
  "$QK" quantize "$IN/bad/model.bin" "${TOK[@]}" -o "$QK_TMP/a_$t.gguf" --type "$t" --allow-nonfinite \
    --json 2> "$QK_TMP/warn" > "$QK_TMP/a.json"
  [ "$(jq -r .nonfinite "$QK_TMP/a.json")" = 2 ] || { echo "FAIL: $t: count"; cat "$QK_TMP/a.json"; exit 1; }
  grep -q "2 non-finite weights in 2 tensors replaced by 0" "$QK_TMP/warn" \
    || { echo "FAIL: $t: no warning"; cat "$QK_TMP/warn"; exit 1; }
  "$QK" quantize "$IN/zeroed/model.bin" "${TOK[@]}" -o "$QK_TMP/z_$t.gguf" --type "$t" > /dev/null
  cmp -s "$QK_TMP/a_$t.gguf" "$QK_TMP/z_$t.gguf" \
    || { echo "FAIL: $t: --allow-nonfinite output differs from the zeroed model's"; exit 1; }
done
echo "  ok   --allow-nonfinite: 2 replaced, warning on stderr; q4_k_m/q8_0/f16/f32 outputs byte-identical to the zeroed model's"

# extreme finite values: beyond f16, and 3e38 for a block format
cp "$IN/model.bin" "$IN/big.bin"
poke "$IN/big.bin" $((WV + 4 * 300)) 70000
expect_fail "tensor 'blk.0.attn_v.weight': element 300 (row 1, column 44) is 70000, beyond the f16 range" \
  "$IN/big.bin" "${TOK[@]}" -o "$QK_TMP/out.gguf" --type f16
"$QK" quantize "$IN/big.bin" "${TOK[@]}" -o "$QK_TMP/big8.gguf" --type q8_0 > /dev/null
echo "  ok   70000 fits q8_0 (d = 70000/127 < 65504)"
poke "$IN/big.bin" $((WV + 4 * 300)) 3e38
expect_fail "tensor 'blk.0.attn_v.weight': quantize q8_0: row 1, elements 32..63: element 44 is 3e+38" \
  "$IN/big.bin" "${TOK[@]}" -o "$QK_TMP/out.gguf" --type q8_0
expect_fail "element 44 is 3e+38, beyond the largest magnitude" \
  "$IN/big.bin" "${TOK[@]}" -o "$QK_TMP/out.gguf" --type q4_k_m --pure
"$QK" quantize "$IN/big.bin" "${TOK[@]}" -o "$QK_TMP/big32.gguf" --type f32 > /dev/null
echo "  ok   3e38 kept by --type f32"
echo "PASS"
