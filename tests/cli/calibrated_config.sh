#!/usr/bin/env bash
# quantize --save-config / --config for calibrated runs on fixture-llama-7m
# (2 windows of 64 tokens, 1 for AWQ's slower search): GPTQ onto q4_0 (with
# --allow-nonfinite), GPTQ with act-order into an AutoGPTQ folder (every
# file compared), a round-to-nearest AutoAWQ folder (no --method; the same
# bytes as without --save-config), AWQ and AWQ+GPTQ onto q4_0 (AWQ's search
# on K formats takes minutes) are replayed to
# byte-identical outputs; the config
# records the method's settings (defaults included), the calibration
# digest, windows and seed, and the output's digest; a replay with another
# seed, or with refit_scales on, gives another output (both are used); a
# different calibration
# file, and broken method parameters, fail with one line naming the field.
# labels: fixtures
set -euo pipefail
QK="$1"; FIX="$2"
source "$(dirname "$0")/lib.sh"
require_fixtures "$FIX"
make_tmp
HF=$FIX/models/fixture-llama-7m
TXT=$FIX/text/calib.txt
CAL=(--calib "$TXT" --calib-len 64)
T=$QK_TMP
fail() { echo "FAIL: $*"; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# save_replay NAME OUT WINDOWS ARGS...: run with --save-config, replay, compare
save_replay() {
  local name="$1" out="$2" n="$3"; shift 3
  "$QK" quantize "$HF" -o "$T/$out" "$@" "${CAL[@]}" --calib-samples "$n" --save-config "$T/$name.json" > /dev/null
  "$QK" quantize "$HF" -o "$T/r-$out" --config "$T/$name.json" > "$T/$name.log"
  grep -q "identical to the recorded one" "$T/$name.log" || fail "$name: $(cat "$T/$name.log")"
  if [ -d "$T/$out" ]; then
    [ "$(ls "$T/$out")" = "$(ls "$T/r-$out")" ] || fail "$name: file lists differ"
    for f in "$T/$out"/*; do
      cmp "$f" "$T/r-$out/$(basename "$f")" || fail "$name: $(basename "$f") differs"
    done
  else
    cmp "$T/$out" "$T/r-$out" || fail "$name: replay differs"
  fi
  echo "  ok   $name: replay byte-identical ($(jq -c .method.params "$T/$name.json" | head -c 120)...)"
}

save_replay gptq-q4_0 g.gguf 2 --type q4_0 --method gptq --allow-nonfinite
j=$T/gptq-q4_0.json
[ "$(jq -r .method.name "$j")" = gptq ] || fail "method.name"
jq -e '.method.params == {"target": "gguf", "true_sequential": true, "block_scales": "imatrix",
        "act_order": false, "static_groups": false, "damp": 0.01, "damp_max": 1,
        "block_size": 128, "fp_target": false}' "$j" > /dev/null || fail "params: $(jq -c .method.params "$j")"
jq -e '.calibration.samples == 2 and .calibration.len == 64 and .calibration.seed == 0' "$j" \
  > /dev/null || fail "calibration: $(jq -c .calibration "$j")"
[ "$(jq -r .calibration.sha256 "$j")" = "$(sha "$TXT")" ] || fail "calibration.sha256"
[ "$(jq -r .quantize.allow_nonfinite "$j")" = true ] || fail "allow_nonfinite"
[ "$(jq -r .quantize.format "$j")" = gguf ] || fail "format"
[ "$(jq -r .quantkit_version "$j")" = "$("$QK" version --json | jq -r .version)" ] || fail "version"
[ "$(jq -r .output.sha256 "$j")" = "$(sha "$T/g.gguf")" ] || fail "output.sha256"
[ "$(jq '.tensors | length' "$j")" = "$("$QK" inspect "$T/g.gguf" --json | jq '.tensors | length')" ] \
  || fail "tensor count"
[ "$(jq -r '.tensors[] | select(.name == "blk.0.attn_q.weight") | .type' "$j")" = q4_0 ] \
  || fail "tensor type"
echo "  ok   recorded: gptq settings with defaults, calibration digest / 2 x 64 / seed 0, version, output digest"

save_replay gptq-folder gf 2 --format gptq --bits 4 --group 64 --sym --method gptq --act-order \
  --damp 0.05
j=$T/gptq-folder.json
jq -e '.quantize.format == "gptq" and .method.params.target == "affine" and .method.params.bits == 4
       and .method.params.group == 64 and .method.params.sym and .method.params.scale_type == "f16"
       and .method.params.refit_scales == false and .method.params.act_order
       and .method.params.damp == 0.05' \
  "$j" > /dev/null || fail "folder params: $(jq -c .method.params "$j")"
[ "$(jq -r '.tensors[] | select(.name == "blk.1.ffn_down.weight") | "\(.type) \(.bits) \(.group)"' "$j")" \
  = "affine 4 64" ] || fail "affine tensor entry"
[ "$(jq -r .output.sha256 "$j")" = "$(cd "$T/gf" && LC_ALL=C sha256sum * | sha256sum | cut -d' ' -f1)" ] \
  || fail "folder digest is not that of its manifest"
[ "$(jq '.output.files | length' "$j")" = "$(ls "$T/gf" | wc -l)" ] || fail "output.files"
echo "  ok   folder: format, affine grid and tensors recorded; output digest = sha256sum manifest"

# a round-to-nearest checkpoint (--format without --method): recorded, replayed,
# and the same bytes as the run without --save-config
"$QK" quantize "$HF" -o "$T/rtn-plain" --format awq --group 64 > /dev/null
"$QK" quantize "$HF" -o "$T/rtn" --format awq --group 64 --save-config "$T/rtn.json" > /dev/null
"$QK" quantize "$HF" -o "$T/r-rtn" --config "$T/rtn.json" > "$T/rtn.log"
grep -q "identical to the recorded one" "$T/rtn.log" || fail "rtn checkpoint: $(cat "$T/rtn.log")"
[ "$(ls "$T/rtn-plain")" = "$(ls "$T/r-rtn")" ] || fail "rtn checkpoint: file lists differ"
for f in "$T/rtn-plain"/*; do
  cmp "$f" "$T/rtn/$(basename "$f")" || fail "rtn checkpoint: $(basename "$f") differs with --save-config"
  cmp "$f" "$T/r-rtn/$(basename "$f")" || fail "rtn checkpoint: $(basename "$f") differs on replay"
done
jq -e '.method.name == "rtn" and .quantize.format == "awq" and .method.params.group == 64' \
  "$T/rtn.json" > /dev/null || fail "rtn checkpoint config: $(jq -c '[.method, .quantize]' "$T/rtn.json")"
echo "  ok   round-to-nearest awq folder: recorded and replayed, same bytes as without --save-config"

save_replay awq-q4_0 a.gguf 1 --type q4_0 --pure --method awq --awq-search-seqs 1
jq -e '.method.params.awq_search_seqs == 1 and .method.params.awq_grid == 20
       and .method.params.awq_clip_max_shrink == 0.5 and (.method.params | has("damp") | not)' \
  "$T/awq-q4_0.json" > /dev/null || fail "awq params: $(jq -c .method.params "$T/awq-q4_0.json")"
save_replay awq+gptq-q4_0 ag.gguf 1 --type q4_0 --pure --method awq+gptq --awq-search-seqs 1
cmp -s "$T/a.gguf" "$T/ag.gguf" && fail "awq and awq+gptq outputs are equal (test would not see GPTQ)"

# another seed: another output, reported as differing
jq '.calibration.seed = 7' "$T/gptq-q4_0.json" > "$T/seed.json"
"$QK" quantize "$HF" -o "$T/seed.gguf" --config "$T/seed.json" > "$T/seed.log"
grep -q "DIFFERS from the recorded one" "$T/seed.log" || fail "seed 7: $(cat "$T/seed.log")"
cmp -s "$T/g.gguf" "$T/seed.gguf" && fail "seed 7 gave the same output"
jq '.method.params.refit_scales = true' "$T/gptq-folder.json" > "$T/refit.json"
"$QK" quantize "$HF" -o "$T/refit" --config "$T/refit.json" > "$T/refit.log"
grep -q "DIFFERS from the recorded one" "$T/refit.log" || fail "refit: $(cat "$T/refit.log")"
cmp -s "$T/gf/model.safetensors" "$T/refit/model.safetensors" && fail "refit_scales gave the same weights"
echo "  ok   a replay with seed 7 differs, one with refit_scales true too (both are used)"

# refusals: one line naming the field, nothing written
refuse() { # NAME CONFIG EXPECTED ARGS...
  local name="$1" cfg="$2" want="$3"; shift 3
  if "$QK" quantize "$HF" -o "$T/bad" --config "$cfg" "$@" > /dev/null 2> "$T/err"; then
    fail "$name: accepted"; fi
  [ "$(wc -l < "$T/err")" = 1 ] || fail "$name: $(cat "$T/err")"
  grep -qF -- "$want" "$T/err" || fail "$name: expected '$want' in: $(cat "$T/err")"
  [ ! -e "$T/bad" ] || fail "$name: output written"
  echo "  ok   $name: $(cat "$T/err")"
}
bad() { # NAME JQ_EDIT EXPECTED [CONFIG]
  jq "$2" "${4:-$T/gptq-q4_0.json}" > "$T/bad.json"
  refuse "$1" "$T/bad.json" "$3"
}
head -c 3000 "$TXT" > "$T/other.txt"
refuse "other calibration text" "$T/gptq-q4_0.json" "calibration.sha256" --calib "$T/other.txt"
bad "calibration digest" '.calibration.sha256 = ("0" * 64)' "calibration.sha256"
bad "unknown parameter" '.method.params.colour = 1' "method.params.colour: not a parameter of method 'gptq'"
bad "missing parameter" 'del(.method.params.block_size)' "method.params.block_size: missing"
bad "parameter type" '.method.params.damp = "x"' "method.params.damp: expected a number"
bad "parameter range" '.method.params.damp = 2' "method.params.damp: 2 is out of range"
bad "block scales" '.method.params.block_scales = "best"' "method.params.block_scales: 'best'"
bad "no calibration" '.calibration = null' "calibration: missing"
bad "unknown format" '.quantize.format = "onnx"' "quantize.format: unknown format 'onnx'"
bad "nonfinite type" '.quantize.allow_nonfinite = "yes"' "quantize.allow_nonfinite: expected true or false"
bad "bits on a block type" '.tensors[0].bits = 4' "tensors[0].bits: only for \"affine\""
bad "affine in a GGUF" '.tensors[0] = {"name": .tensors[0].name, "type": "affine", "bits": 4, "group": 0}' \
  "tensors[0].type: \"affine\" tensors need a checkpoint format"
bad "grid bits" '.method.params.bits = 9' "method.params.bits: 9 is out of range" "$T/gptq-folder.json"
bad "affine bits" '(.tensors[] | select(.type == "affine") | .bits) = 1' "].bits: 1 is out of range" \
  "$T/gptq-folder.json"
bad "checkpoint target" '.method.params.target = "gguf"' "method.params.target: a gptq checkpoint" \
  "$T/gptq-folder.json"
