#!/usr/bin/env bash
# quantkit bench --quick --json: one well-formed JSON object with the memory
# figures and, at 1 and 2 threads, quantize/dequantize/matvec/matmul figures
# (cache and dram sizes) for every weight type, each with positive finite
# throughput consistent with its size and time; RMSE of the fast K
# quantizers next to the search's; bad options give exit 2.
set -euo pipefail
QK="$1"
source "$(dirname "$0")/lib.sh"
make_tmp

"$QK" bench --quick --json --threads 2 > "$QK_TMP/b.json"
[ "$(wc -l < "$QK_TMP/b.json")" = 1 ] || { echo "FAIL: --json should print one line"; exit 1; }
jq -e 'type == "object"' "$QK_TMP/b.json" >/dev/null || { echo "FAIL: not a JSON object"; exit 1; }
[ "$(jq -r '[.runs[].threads] | join(",")' "$QK_TMP/b.json")" = "1,2" ] \
  || { echo "FAIL: runs should be at 1 and 2 threads"; exit 1; }
jq -e '.load_average_start >= 0 and .load_average_end >= 0' "$QK_TMP/b.json" >/dev/null \
  || { echo "FAIL: load averages"; exit 1; }
[ "$(jq -r .e2e "$QK_TMP/b.json")" = null ] || { echo "FAIL: e2e without --model"; exit 1; }
for k in read_cache_gbs read_dram_gbs triad_cache_gbs triad_dram_gbs; do
  jq -e ".runs | all(.memory.$k > 0)" "$QK_TMP/b.json" >/dev/null || { echo "FAIL: memory $k"; exit 1; }
done
echo "  ok   one JSON object, runs at 1 and 2 threads with read/triad bandwidth"

types="f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k"
want=$( (for t in $types; do for op in quantize dequantize matvec; do for s in cache dram; do
  echo "$t/$op/$s"; done; done; echo "$t/matmul/cache"; done; echo int4_g128/quantize/cache; echo int4_g128/quantize/dram) \
  | sort | tr '\n' ' ')
for r in 0 1; do
  got=$(jq -r ".runs[$r].kernels[] | \"\(.type)/\(.op)/\(.size)\"" "$QK_TMP/b.json" | sort | tr '\n' ' ')
  [ "$got" = "$want" ] || { echo "FAIL: run $r kernels: $got"; exit 1; }
done
echo "  ok   every type has quantize/dequantize/matvec (cache, dram) and matmul figures, int4_g128 quantize"

# each figure: weight_gbs = weight_bytes / seconds, elements_per_s = rows * cols
# (times activation rows for matmul) / seconds, weight_bytes = the type's row
# bytes times rows (bits per weight: q4_0 4.5, q8_0 8.5, q4_k 4.5, f16 16)
jq -e '[.runs[].kernels[] | (.weight_bytes / .seconds * 1e-9) as $g
        | ((.weight_gbs - $g) | fabs) <= 1e-6 * $g] | all' "$QK_TMP/b.json" >/dev/null \
  || { echo "FAIL: weight_gbs inconsistent"; exit 1; }
jq -e '[.runs[].kernels[] | (.rows * .cols * (.activation_rows // 1) / .seconds) as $e
        | ((.elements_per_s - $e) | fabs) <= 1e-6 * $e] | all' "$QK_TMP/b.json" >/dev/null \
  || { echo "FAIL: elements_per_s inconsistent"; exit 1; }
for tb in q4_0:4.5 q8_0:8.5 q4_k:4.5 q6_k:6.5625 q2_k:2.625 f16:16 int4_g128:4.15625; do
  t=${tb%%:*}; b=${tb##*:}
  jq -e --arg t "$t" --argjson b "$b" '[.runs[].kernels[] | select(.type == $t)
        | .weight_bytes * 8 == .rows * .cols * $b] | all' "$QK_TMP/b.json" >/dev/null \
    || { echo "FAIL: $t weight bytes"; exit 1; }
done
jq -e '[.runs[].kernels[] | select(.op == "matvec") | .read_ratio > 0] | all' "$QK_TMP/b.json" >/dev/null \
  || { echo "FAIL: matvec read_ratio"; exit 1; }
jq -e '[.runs[].kernels[] | select(.op == "quantize")
        | (.rows * .cols * 4 / .seconds * 1e-9) as $g | ((.input_gbs - $g) | fabs) <= 1e-6 * $g] | all' "$QK_TMP/b.json" >/dev/null \
  || { echo "FAIL: quantize input_gbs"; exit 1; }
echo "  ok   throughputs agree with sizes and times; weight bytes match bits per weight"

# K formats: fast RMSE, ggml's and the search's, all in (0, 1) on N(0,1)
# data; the fast one at most ggml's (the issue's bar)
n=$(jq '[.runs[].kernels[] | select(.op == "quantize" and .size == "cache" and (.type | test("_k$")))
        | select(.rmse > 0 and .rmse < 1 and .rmse_search > 0 and .rmse_search < 1
                 and .rmse_ggml > 0 and .rmse_ggml < 1 and .rmse <= .rmse_ggml)] | length' "$QK_TMP/b.json")
[ "$n" = 10 ] || { echo "FAIL: K-format RMSE figures ($n of 10)"; exit 1; }
echo "  ok   K quantizers report RMSE next to ggml's and the search's, at most ggml's"

# the acceptance summary repeats the figures it is read from
jq -e '[range(0; 2) as $r | .runs[$r] as $run | .acceptance[$r] as $a
        | ($run.kernels[] | select(.type == "q4_k" and .op == "matvec" and .size == "dram") | .read_ratio) == $a.matvec_q4_k_read_ratio
        and ($run.kernels[] | select(.type == "q8_0" and .op == "quantize" and .size == "dram") | .input_gbs_per_thread) == $a.quantize_q8_0_input_gbs_per_thread
        and $a.threads == $run.threads] | all' "$QK_TMP/b.json" >/dev/null \
  || { echo "FAIL: acceptance summary"; exit 1; }
echo "  ok   acceptance summary matches the figures"

set +e
"$QK" bench --seconds -1 > /dev/null 2>"$QK_TMP/err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q -- "--seconds" "$QK_TMP/err" || { echo "FAIL: bad --seconds (rc $rc)"; exit 1; }
set +e
"$QK" bench --nonsense > /dev/null 2>&1; rc=$?
set -e
[ "$rc" = 2 ] || { echo "FAIL: unknown option should exit 2 (got $rc)"; exit 1; }
echo "  ok   bad options rejected"
