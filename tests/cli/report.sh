#!/usr/bin/env bash
# quantkit report on the HF fixture and its q4_0 quantization, with --text
# (2 chunks of 128 tokens) and --png, then the page in headless Chromium:
#   - a screenshot is produced: a PNG of the window's size, larger than four
#     times the screenshot of an almost empty page taken the same way;
#   - no console messages: Chromium run with --enable-logging=stderr --v=0
#     logs every console message and uncaught exception as an
#     "INFO:CONSOLE" line; the report must give none. A control page with a
#     deliberate console.error and an uncaught ReferenceError must give two
#     (so the detector is known to work). The page must also fetch nothing:
#     no <script>, <link>, <img>, <iframe>, <object>, <embed>, src=, srcset=,
#     url( or @import, and every href is a #fragment;
#   - the DOM (--dump-dom) holds one table row per tensor of the model, the
#     names those of `quantkit inspect --json`, with QUANT's bits per weight
#     from its inspect, types, SQNR and cosine as `quantkit compare --json`; the tensors
#     shown in detail are the 4 of lowest SQNR plus token_embd and output;
#   - for the smallest detailed tensor, the outlier count and the SQNR of
#     three int4 quantizations (no clipping, 99.9 percentile, per channel) are
#     recomputed from the safetensors in Python and match the page;
#   - perplexity and KL equal `quantkit eval --ref`'s;
#   - every figure is also a PNG in --png DIR, of the figure's size;
#   - the sensitivity ranking (calibration statistics with X^T X from 4
#     windows of 64 tokens; candidates q8_0 plus QUANT's q4_0 and q6_k) has
#     one row per 2-D tensor of inspect --json, ranks 1..n by descending
#     predicted loss, SQNR rising and output error falling with the bits per
#     weight, and the q8_0 SQNR of the smallest tensor as computed in Python
#     (ggml's reference q8_0 emulated in f32);
#   - the allocation for 110% of QUANT's file size lists every tensor with
#     the bytes its format takes for its shape, a file size equal to header +
#     aligned tensors and within the budget, and a predicted loss equal to
#     its rows' sum and below that of QUANT's own formats (which fit).
# Chromium renders each page once (console log, screenshot and DOM together)
# with a time limit (QK_CHROME_TIMEOUT seconds, default 60) and a throwaway
# profile and HOME. Without Chromium (Debian package chromium) the browser
# checks are skipped (exit 77 after the other checks passed); without the
# fixtures the whole test is.
# labels: fixtures
set -euo pipefail
QK="$1"; FIX="$2"
source "$(dirname "$0")/lib.sh"
require_fixtures "$FIX"
HERE="$(cd "$(dirname "$0")" && pwd)"
CHECK="python3 $HERE/report_check.py"
HF=$FIX/models/fixture-llama-7m
TEXT=$FIX/text/kjv-luke.txt
for f in "$HF/config.json" "$TEXT"; do
  [ -e "$f" ] || { echo "SKIP: fixture $f is absent (../shared/fixtures); this test needs it"; exit 77; }
done
make_tmp
T=$QK_TMP

"$QK" quantize "$HF" -o "$T/q4_0.gguf" --type q4_0 >/dev/null
"$QK" inspect "$HF" --json > "$T/inspect.json"
"$QK" inspect "$T/q4_0.gguf" --json > "$T/inspect_q.json"
"$QK" compare "$HF" "$T/q4_0.gguf" --json > "$T/compare.json"
"$QK" eval "$T/q4_0.gguf" --ref "$HF" --text "$TEXT" --ctx 128 --chunks 2 --json > "$T/eval.json"
"$QK" calibrate "$HF" --calib "$FIX/text/calib.txt" -o "$T/stats.bin" --samples 4 --len 64 --xtx >/dev/null
budget=$(( $(stat -c %s "$T/q4_0.gguf") * 11 / 10 ))

# the sensitivity over q8_0 and QUANT's formats (q4_0, and q6_k for output.weight), which keeps
# the test short; allocation for 10% more than QUANT's size
"$QK" report "$HF" "$T/q4_0.gguf" -o "$T/report.html" --text "$TEXT" --ctx 128 --chunks 2 \
  --png "$T/png" --calib "$T/stats.bin" --formats q8_0 --budget "$budget" --json > "$T/report.json"
[ -s "$T/report.html" ] || { echo "FAIL: no report.html"; exit 1; }
n_tensors=$(jq '.tensors | length' "$T/inspect.json")
[ "$(jq .tensors "$T/report.json")" = "$n_tensors" ] || { echo "FAIL: report --json tensors"; exit 1; }
echo "  ok   report written: $(stat -c %s "$T/report.html") bytes, $n_tensors tensors"

# self-contained: nothing that would load a resource
if grep -n -i -E '<script|<link|<img|<iframe|<object|<embed|[^-]src=|srcset=|url\(http|@import' \
     "$T/report.html" | head -5 | grep .; then
  echo "FAIL: the page loads resources"; exit 1
fi
if grep -o -E 'href="[^"]*"' "$T/report.html" | grep -v '^href="#' | head -3 | grep .; then
  echo "FAIL: the page links outside itself"; exit 1
fi
# ids unique (the inline SVGs' clip paths included)
dups=$(grep -o -E ' id="[^"]*"' "$T/report.html" | sort | uniq -d | head -3)
[ -z "$dups" ] || { echo "FAIL: duplicate ids: $dups"; exit 1; }
echo "  ok   self-contained: no script, stylesheet link, image, src or url(); every href a #fragment; ids unique"

# PNG figures: sqnr.png is 900 x (70 + 16 per compared tensor + 50)
n_png=$(jq '.png | length' "$T/report.json")
n_detail=$(jq '.detailed | length' "$T/report.json")
[ "$n_png" = $((n_detail + 2)) ] || { echo "FAIL: $n_png PNG files for $n_detail detailed tensors"; exit 1; }
specs=("$T/png/sqnr.png=900x$((70 + 16 * n_tensors + 50))")
for f in $(jq -r '.png[]' "$T/report.json"); do
  [ -s "$f" ] || { echo "FAIL: $f missing"; exit 1; }
  specs+=("$f")
done
for t in $(jq -r '.detailed[]' "$T/report.json"); do
  specs+=("$T/png/hist-$t.png=1200x320")
done
$CHECK png "${specs[@]}" >/dev/null
echo "  ok   $n_png PNG figures in --png DIR (sqnr.png 900x$((70 + 16 * n_tensors + 50)), histograms 1200x320)"

if ! command -v chromium >/dev/null 2>&1; then
  echo "SKIP: chromium is not installed (Debian package chromium): the page was not rendered"
  exit 77
fi
# Chromium as root in CI: no sandbox, a fresh profile and HOME (nothing
# written to the real one), no /dev/shm (small in containers), and a time
# limit so that a stuck browser fails the test instead of hanging the suite.
CHROME_LIMIT=${QK_CHROME_TIMEOUT:-60}
exec 3>&1 # the test's output, while chromium's is redirected
chrome() {
  local profile rc=0
  profile=$(mktemp -d "$T/profile.XXXXXX")
  HOME="$profile" XDG_CONFIG_HOME="$profile" XDG_CACHE_HOME="$profile" \
    timeout -k 5 "$CHROME_LIMIT" chromium --headless --no-sandbox --disable-gpu \
    --disable-dev-shm-usage --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
    "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "FAIL: chromium did not finish within $CHROME_LIMIT s ($*)" >&3; exit 1
  fi
  [ "$rc" = 0 ] || { echo "FAIL: chromium exited with $rc ($*)" >&3; exit 1; }
}
console_lines() { grep -c 'CONSOLE' "$1" || true; }
# one run per page: console messages on stderr, the screenshot, the DOM on stdout
render() { # render PAGE STEM
  chrome --enable-logging=stderr --v=0 --window-size=1280,3000 --screenshot="$T/$2.png" \
    --dump-dom "file://$1" > "$T/$2.dom" 2> "$T/$2.err"
}

# the detector on a control page
cat > "$T/control.html" <<'EOF'
<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>control</title></head>
<body><p>control</p><script>console.error("deliberate"); no_such_function();</script></body></html>
EOF
render "$T/control.html" control
n=$(console_lines "$T/control.err")
[ "$n" = 2 ] || { echo "FAIL: the control page gave $n console lines, not 2"; cat "$T/control.err"; exit 1; }
echo "  ok   detector: the control page's console.error and ReferenceError give 2 CONSOLE lines"

# the report: screenshot and console
render "$T/report.html" shot
n=$(console_lines "$T/shot.err")
[ "$n" = 0 ] || { echo "FAIL: $n console messages"; grep CONSOLE "$T/shot.err"; exit 1; }
[ -s "$T/shot.png" ] || { echo "FAIL: no screenshot"; exit 1; }
$CHECK png "$T/shot.png=1280x3000" >/dev/null
shot=$(stat -c %s "$T/shot.png"); control=$(stat -c %s "$T/control.png")
[ "$shot" -gt $((4 * control)) ] || { echo "FAIL: screenshot $shot bytes, an almost empty page $control"; exit 1; }
echo "  ok   rendered without console messages; screenshot 1280x3000, $shot bytes (almost empty page: $control)"

# the DOM
mv "$T/shot.dom" "$T/dom.html"
$CHECK dom "$T/dom.html" "$T/inspect.json" "$T/inspect_q.json" "$T/compare.json" > "$T/dom.txt" || { cat "$T/dom.txt"; exit 1; }
grep -v '^CHOSEN' "$T/dom.txt"
chosen=$(sed -n 's/^CHOSEN //p' "$T/dom.txt" | tr ' ' '\n' | sort | tr '\n' ' ')
want=$( (jq -r '[.tensors[] | select(.sqnr_db != null)] | sort_by(.sqnr_db) | .[0:4][] | .name' "$T/compare.json";
         echo token_embd.weight; echo output.weight) | sort -u | tr '\n' ' ')
[ "$chosen" = "$want" ] || { echo "FAIL: detailed tensors '$chosen', expected '$want'"; exit 1; }
echo "  ok   detailed: the 4 lowest SQNRs of compare --json plus token_embd and output"

# independent numbers for the smallest detailed tensor
small=$(jq -r --arg c "$chosen" '[.tensors[] | select(.name as $n | ($c | split(" ") | index($n)))
        | {name, n: (.shape | reduce .[] as $d (1; . * $d))}] | sort_by(.n) | .[0].name' "$T/inspect.json")
$CHECK outliers "$T/dom.html" "$HF" "$small" 3 4 99.9
$CHECK ppl "$T/dom.html" "$T/eval.json"
$CHECK sens "$T/dom.html" "$T/inspect.json" "$HF"
$CHECK alloc "$T/dom.html" "$T/inspect.json" "$budget" strict
