#!/usr/bin/env bash
# quantize --budget / --max-kl / --save-config / --config on stories260k:
# the output file (header and metadata included) never exceeds the budget;
# a budget below the smallest possible model fails naming that size, and
# exactly that size succeeds with a file of exactly that size; bits-per-
# weight budgets; replaying a saved config (plain mix, imatrix file, mixed
# allocation with calibration) gives a byte-identical file; broken configs
# fail with one line naming the field.
# labels: fixtures
set -euo pipefail
QK="$1"; FIX="$2"
source "$(dirname "$0")/lib.sh"
require_fixtures "$FIX"
make_tmp
S=$FIX/models/stories260k/stories260K.bin
TOK=$FIX/models/stories260k/tok512.bin
TXT=$FIX/text/tinystories_val.txt
T=$QK_TMP
# KL measured on one window where it matters (--max-kl, one replay); the imatrix proxy elsewhere
KL=(--calib "$TXT" --calib-samples 4 --calib-len 64 --kl-chunks 1 --mixed-formats q4_0,q5_0,q8_0,f16)
CAL=("${KL[@]}" --sens-kl none)
size() { stat -c %s "$1"; }
fail() { echo "FAIL: $*"; exit 1; }

# budgets: the file never exceeds them
for b in 330000 500000; do
  "$QK" quantize "$S" --tokenizer "$TOK" -o "$T/m$b.gguf" --type q8_0 --budget $b "${CAL[@]}" \
    --json > "$T/m$b.json"
  s=$(size "$T/m$b.gguf")
  [ "$s" -le "$b" ] || fail "budget $b: file of $s bytes"
  [ "$(jq -r .allocation.file_bytes "$T/m$b.json")" = "$s" ] || fail "budget $b: reported size"
  [ "$(jq -r .allocation.budget_bytes "$T/m$b.json")" = "$b" ] || fail "budget $b: budget echo"
done
echo "  ok   budgets 330000 and 500000: every file within its budget, reported size exact"

# below the smallest model: a clear error with the smallest size; that size works
if "$QK" quantize "$S" --tokenizer "$TOK" -o "$T/small.gguf" --budget 1000 "${CAL[@]}" \
    > /dev/null 2> "$T/err"; then fail "budget 1000 accepted"; fi
[ "$(wc -l < "$T/err")" = 1 ] || fail "more than one error line: $(cat "$T/err")"
grep -q "below the smallest possible output" "$T/err" || fail "message: $(cat "$T/err")"
[ ! -e "$T/small.gguf" ] || fail "a file was written"
smallest=$(sed -n 's/.*smallest possible output, \([0-9]*\) bytes.*/\1/p' "$T/err")
[ -n "$smallest" ] || fail "no size in: $(cat "$T/err")"
"$QK" quantize "$S" --tokenizer "$TOK" -o "$T/small.gguf" --budget "$smallest" "${CAL[@]}" > /dev/null
[ "$(size "$T/small.gguf")" = "$smallest" ] || fail "smallest budget: $(size "$T/small.gguf") != $smallest"
echo "  ok   budget 1000 refused (smallest $smallest); exactly $smallest gives a file of $smallest bytes"

# bits per weight: 8bpw of the 260k weights (the file over all weights)
n_w=$("$QK" quantize "$S" --tokenizer "$TOK" --type q8_0 --dry-run --json | jq -r .weights)
"$QK" quantize "$S" --tokenizer "$TOK" -o "$T/bpw.gguf" --budget 8bpw "${CAL[@]}" > /dev/null
lim=$(( n_w * 8 / 8 ))
[ "$(size "$T/bpw.gguf")" -le "$lim" ] || fail "8bpw: $(size "$T/bpw.gguf") > $lim"
if "$QK" quantize "$S" --tokenizer "$TOK" -o "$T/x.gguf" --budget 6xyz "${CAL[@]}" 2> "$T/err" >/dev/null; then
  fail "--budget 6xyz accepted"; fi
grep -q "budget '6xyz'" "$T/err" || fail "message: $(cat "$T/err")"
echo "  ok   --budget 8bpw: $(size "$T/bpw.gguf") <= $lim bytes; a bad size is refused"

# --max-kl: a looser limit never gives a larger file
"$QK" quantize "$S" --tokenizer "$TOK" -o "$T/k1.gguf" --max-kl 0.001 "${KL[@]}" > /dev/null
"$QK" quantize "$S" --tokenizer "$TOK" -o "$T/k2.gguf" --max-kl 0.05 "${KL[@]}" > /dev/null
[ "$(size "$T/k2.gguf")" -le "$(size "$T/k1.gguf")" ] || fail "max-kl sizes not monotone"
echo "  ok   --max-kl 0.001 -> $(size "$T/k1.gguf") bytes, 0.05 -> $(size "$T/k2.gguf") bytes"

# replay: mixed allocation with calibration, plain mix, imatrix file
"$QK" quantize "$S" --tokenizer "$TOK" -o "$T/a.gguf" --budget 450000 "${KL[@]}" \
  --save-config "$T/a.json" > /dev/null
"$QK" quantize "$S" -o "$T/a2.gguf" --config "$T/a.json" > "$T/a2.log"
cmp "$T/a.gguf" "$T/a2.gguf" || fail "mixed replay differs"
grep -q "identical to the recorded one" "$T/a2.log" || fail "replay message: $(cat "$T/a2.log")"
[ "$(jq -r .importance.source "$T/a.json")" = calibration ] || fail "importance source"
[ "$(jq -r .calibration.seed "$T/a.json")" = 0 ] || fail "seed"
[ "$(jq -r .calibration.sha256 "$T/a.json")" = "$(sha256sum "$TXT" | cut -d' ' -f1)" ] || fail "calib sha256"
[ "$(jq -r .output.sha256 "$T/a.json")" = "$(sha256sum "$T/a.gguf" | cut -d' ' -f1)" ] || fail "output sha256"
[ "$(jq -r .allocation.budget_bytes "$T/a.json")" = 450000 ] || fail "budget recorded"
[ "$(jq -r '.tensors | length' "$T/a.json")" = "$("$QK" inspect "$T/a.gguf" --json | jq -r '.tensors | length')" ] \
  || fail "tensor count"
"$QK" quantize "$S" --tokenizer "$TOK" -o "$T/b.gguf" --type q4_0 --tensor-type 'attn_v=q8_0' \
  --save-config "$T/b.json" > /dev/null
"$QK" quantize "$S" -o "$T/b2.gguf" --config "$T/b.json" > /dev/null
cmp "$T/b.gguf" "$T/b2.gguf" || fail "plain replay differs"
"$QK" calibrate "$S" --tokenizer "$TOK" --calib "$TXT" --samples 4 --len 64 -o "$T/st.gguf" > /dev/null
"$QK" quantize "$S" --tokenizer "$TOK" -o "$T/c.gguf" --type q4_0 --imatrix "$T/st.gguf" \
  --save-config "$T/c.json" > /dev/null
"$QK" quantize "$S" -o "$T/c2.gguf" --config "$T/c.json" > /dev/null
cmp "$T/c.gguf" "$T/c2.gguf" || fail "imatrix replay differs"
cmp -s "$T/b.gguf" "$T/c.gguf" && fail "imatrix had no effect (test would not see it)"
echo "  ok   replays byte-identical: mixed allocation + calibration, q4_0 + override, q4_0 + imatrix"

# broken configs: one line naming the field
bad() { # NAME JQ_EDIT EXPECTED_SUBSTRING
  jq "$2" "$T/a.json" > "$T/bad.json"
  if "$QK" quantize "$S" -o "$T/bad.gguf" --config "$T/bad.json" > /dev/null 2> "$T/err"; then
    fail "$1: accepted"; fi
  [ "$(wc -l < "$T/err")" = 1 ] || fail "$1: $(cat "$T/err")"
  grep -qF -- "$3" "$T/err" || fail "$1: expected '$3' in: $(cat "$T/err")"
  [ ! -e "$T/bad.gguf" ] || fail "$1: a file was written"
  echo "  ok   $1: $(cat "$T/err")"
}
bad "unknown format" '.tensors[3].type = "q9_k"' "tensors[3].type: unknown format 'q9_k'"
bad "unknown field" '.quantize.colour = 1' "quantize.colour: unknown field"
bad "missing field" 'del(.calibration.seed)' "calibration.seed: missing"
bad "wrong JSON type" '.calibration.samples = "four"' "calibration.samples: expected an integer"
bad "no such tensor" '.tensors[0].name = "blk.9.attn_q.weight"' "tensors[0].name: 'blk.9.attn_q.weight' is not a tensor"
bad "type too wide" '(.tensors[] | select(.name == "blk.0.ffn_down.weight") | .type) = "q8_0"' "cannot hold 'blk.0.ffn_down.weight'"
bad "wrong digest" '.input.files[0].sha256 = ("0" * 64)' "input.files[0].sha256"
bad "schema" '.schema = "other"' "schema: 'other' is not"
bad "method" '.method.name = "sparse"' "method.name: 'sparse' cannot be replayed"
bad "unknown type request" '.quantize.type = "q4_x"' "quantize.type: unknown type 'q4_x'"
printf '{"schema": ' > "$T/bad.json"
if "$QK" quantize "$S" -o "$T/bad.gguf" --config "$T/bad.json" > /dev/null 2> "$T/err"; then fail "truncated accepted"; fi
grep -q "line 1" "$T/err" || fail "truncated: $(cat "$T/err")"
echo "  ok   truncated JSON: $(cat "$T/err")"
