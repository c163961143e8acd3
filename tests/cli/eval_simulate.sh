#!/usr/bin/env bash
# quantkit eval --simulate on the HF fixture (2 chunks of 128 tokens of
# kjv-luke.txt, KL to the f32 model): bad specs and missing calibration are
# refused naming what is wrong; the JSON reports the method and the 42
# linears; fidelity orders as the bits do (w8 < w4g128 < w3g128 in mean KL,
# llm_int8 and smoothquant_w8a8 near w8), and AWQ calibrated on calib.txt
# lowers round-to-nearest's KL at W3 g128.
# labels: fixtures
set -euo pipefail
QK="$1"; FIX="$2"
source "$(dirname "$0")/lib.sh"
require_fixtures "$FIX"
make_tmp
# results do not depend on it; spinning OpenMP workers only slow a shared machine
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

M=$FIX/models/fixture-llama-7m
T=$FIX/text/kjv-luke.txt
C=$FIX/text/calib.txt
EV=(eval "$M" --text "$T" --ctx 128 --chunks 2 --ref "$M" --json)

for spec in w4g0 awq_nf4b48 llm_int8:x smoothquant_w8a8:1.5 bogus; do
  if "$QK" "${EV[@]}" --simulate "$spec" >/dev/null 2>"$QK_TMP/err"; then
    echo "FAIL   --simulate $spec was accepted"; exit 1
  fi
  grep -qF "'$spec'" "$QK_TMP/err" || { echo "FAIL   error for $spec does not name it:"; cat "$QK_TMP/err"; exit 1; }
  echo "  ok   --simulate $spec refused: $(head -c 120 "$QK_TMP/err")"
done
if "$QK" "${EV[@]}" --simulate awq_w4g128 >/dev/null 2>"$QK_TMP/err"; then
  echo "FAIL   awq without --calib was accepted"; exit 1
fi
grep -q "calibration" "$QK_TMP/err" || { echo "FAIL   awq without --calib:"; cat "$QK_TMP/err"; exit 1; }
echo "  ok   awq without --calib refused"

kl() { # kl NAME ARGS... : prints the mean KL, checks the JSON's method and linear count
  local name="$1"; shift
  "$QK" "${EV[@]}" "$@" >"$QK_TMP/$name.json"
  local method linears
  method=$(jq -r .simulate.method "$QK_TMP/$name.json")
  linears=$(jq -r .simulate.linears "$QK_TMP/$name.json")
  [ "$method" = "$name" ] || { echo "FAIL   method '$method', want '$name'" >&2; exit 1; }
  [ "$linears" = 42 ] || { echo "FAIL   $name: $linears linears, want 42" >&2; exit 1; }
  jq -r .kl "$QK_TMP/$name.json"
}
lt() { # lt NAME A B: A < B
  if awk -v a="$2" -v b="$3" 'BEGIN { exit !(a < b) }'; then
    printf '  ok   %-50s %s < %s\n' "$1" "$2" "$3"
  else
    printf 'FAIL   %-50s %s >= %s\n' "$1" "$2" "$3"; exit 1
  fi
}
w8=$(kl w8 --simulate w8)
w4=$(kl w4g128 --simulate w4g128)
w3=$(kl w3g128 --simulate w3g128)
i8=$(kl llm_int8:6 --simulate llm_int8)
sq=$(kl smoothquant_w8a8:0.5 --simulate smoothquant_w8a8 --calib "$C" --calib-samples 8 --calib-len 128)
aw=$(kl awq_w3g128 --simulate awq_w3g128 --calib "$C" --calib-samples 4 --calib-len 128)
lt "KL w8 < w4g128" "$w8" "$w4"
lt "KL w4g128 < w3g128" "$w4" "$w3"
lt "KL llm_int8 < w4g128" "$i8" "$w4"
lt "KL smoothquant_w8a8 < w4g128" "$sq" "$w4"
lt "KL awq_w3g128 < rtn w3g128" "$aw" "$w3"
lt "KL 0 < w8" 0 "$w8"
