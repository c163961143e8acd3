#!/usr/bin/env bash
# Crash safety of quantkit's outputs (issue 9): `quantkit quantize` killed
# with SIGKILL at random moments leaves the destination absent, or the
# previous complete file, or the complete new file (sha256 equal to an
# uninterrupted run), never a partial one; inputs are unchanged; the
# temporaries of killed runs are removed by the next run. A file-size limit
# (RLIMIT_FSIZE, "full disk") fails with a message naming the destination
# and leaves no output and no temporary. Runs on a small synthetic llama2.c
# model (no fixtures needed); the HF fixture gets a GGUF round when present.
set -euo pipefail
QK="$1"; FIX="$2"
source "$(dirname "$0")/lib.sh"
make_tmp
IN=$QK_TMP/in; OUT=$QK_TMP/out
mkdir -p "$IN" "$OUT"
python3 "$(dirname "$0")/make_tiny_llama2c.py" "$IN" 7
TOK=(--tokenizer "$IN/tokenizer.bin")
input_sums() { (cd "$1" && sha256sum ./* | sort); }
sums_before=$(input_sums "$IN")

temps_in() { find "$1" -maxdepth 1 -name '.*qk-tmp-*' | wc -l; }

# reference outputs (uninterrupted)
"$QK" quantize "$IN/model.bin" "${TOK[@]}" -o "$QK_TMP/new.gguf" --type q4_0 > /dev/null
"$QK" quantize "$IN/model.bin" "${TOK[@]}" -o "$QK_TMP/old.gguf" --type q8_0 > /dev/null
new_sum=$(sha256sum < "$QK_TMP/new.gguf"); old_sum=$(sha256sum < "$QK_TMP/old.gguf")
[ "$new_sum" != "$old_sum" ] || { echo "FAIL: q4_0 and q8_0 outputs are equal"; exit 1; }

# how long one run takes here (ms), to spread the kills over it
t0=$(date +%s%N)
"$QK" quantize "$IN/model.bin" "${TOK[@]}" -o "$QK_TMP/timing.gguf" --type q4_0 > /dev/null
run_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$run_ms" -ge 20 ] || run_ms=20

# kill_at DEST_DIR MS ARGS...: start quantize, SIGKILL it after MS ms
kill_at() {
  local ms=$2; shift 2
  "$QK" "$@" > /dev/null 2>&1 &
  local pid=$!
  KILLED_PID=$pid
  sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
  kill -KILL "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}

RANDOM=9  # reproducible kill times
kills=0; absent=0; complete=0; old=0; midwrite=0
for i in $(seq 1 20); do
  ms=$(( RANDOM % (run_ms + 1) ))
  dest=$OUT/model.gguf
  if [ $((i % 2)) -eq 0 ]; then cp "$QK_TMP/old.gguf" "$dest"; else rm -f "$dest"; fi
  kill_at "$OUT" "$ms" quantize "$IN/model.bin" "${TOK[@]}" -o "$dest" --type q4_0
  kills=$((kills + 1))
  ! compgen -G "$OUT/.model.gguf.qk-tmp-$KILLED_PID-*" > /dev/null || midwrite=$((midwrite + 1))
  if [ ! -e "$dest" ]; then
    [ $((i % 2)) -eq 1 ] || { echo "FAIL: kill $i at ${ms} ms removed the previous file"; exit 1; }
    absent=$((absent + 1))
  else
    s=$(sha256sum < "$dest")
    if [ "$s" = "$new_sum" ]; then
      complete=$((complete + 1))
      "$QK" inspect "$dest" --json | jq -e '.tensors | length == 20' > /dev/null \
        || { echo "FAIL: kill $i: complete file does not inspect"; exit 1; }
    elif [ "$s" = "$old_sum" ] && [ $((i % 2)) -eq 0 ]; then
      old=$((old + 1))
    else
      echo "FAIL: kill $i at ${ms} ms (of ~${run_ms} ms) left a partial or corrupt $dest"
      ls -la "$OUT"; exit 1
    fi
  fi
  [ "$(temps_in "$OUT")" -le 1 ] || { echo "FAIL: kill $i: temporaries pile up"; ls -la "$OUT"; exit 1; }
done
[ "$(input_sums "$IN")" = "$sums_before" ] || { echo "FAIL: inputs changed"; exit 1; }
echo "  ok   $kills SIGKILLs over ~${run_ms} ms runs: $absent absent, $old previous file, $complete complete ($midwrite killed mid-write, temporary present); no partial file; inputs unchanged"
[ "$midwrite" -gt 0 ] || echo "  note: no kill landed while the output was being written (machine too fast/slow?)"

# the next run removes what killed runs left behind
"$QK" quantize "$IN/model.bin" "${TOK[@]}" -o "$OUT/model.gguf" --type q4_0 > /dev/null
[ "$(temps_in "$OUT")" -eq 0 ] || { echo "FAIL: stale temporaries remain"; ls -la "$OUT"; exit 1; }
[ "$(sha256sum < "$OUT/model.gguf")" = "$new_sum" ] || { echo "FAIL: rerun differs"; exit 1; }
echo "  ok   a later run removes the killed runs' temporaries"

# checkpoint folders: killed runs leave no folder or a complete one
ck_ref=$QK_TMP/ck_ref
"$QK" quantize "$IN/model.bin" "${TOK[@]}" -o "$ck_ref" --format gptq > /dev/null
ck_sum=$(cd "$ck_ref" && sha256sum ./* | sort)
ck_absent=0; ck_complete=0
for i in $(seq 1 4); do
  ms=$(( RANDOM % (run_ms + 1) ))
  rm -rf "$OUT/ck"
  kill_at "$OUT" "$ms" quantize "$IN/model.bin" "${TOK[@]}" -o "$OUT/ck" --format gptq
  if [ ! -e "$OUT/ck" ]; then ck_absent=$((ck_absent + 1)); continue; fi
  [ "$(cd "$OUT/ck" && sha256sum ./* | sort)" = "$ck_sum" ] \
    || { echo "FAIL: checkpoint kill $i at ${ms} ms left an incomplete folder"; exit 1; }
  ck_complete=$((ck_complete + 1))
done
rm -rf "$OUT/ck"
"$QK" quantize "$IN/model.bin" "${TOK[@]}" -o "$OUT/ck" --format gptq > /dev/null
[ "$(temps_in "$OUT")" -eq 0 ] || { echo "FAIL: stale checkpoint folders remain"; ls -la "$OUT"; exit 1; }
echo "  ok   4 SIGKILLs of checkpoint writes: $ck_absent absent, $ck_complete complete; stale temporary folders removed"

# full disk: a file-size limit of 64 KiB; SIGXFSZ ignored so write() fails with EFBIG
rm -f "$OUT/model.gguf"
set +e
(trap '' XFSZ; ulimit -f 64; exec "$QK" quantize "$IN/model.bin" "${TOK[@]}" -o "$OUT/model.gguf" --type q4_0) \
  > /dev/null 2> "$QK_TMP/err"
rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "FAIL: size limit: exit $rc"; cat "$QK_TMP/err"; exit 1; }
grep -q "$OUT/model.gguf" "$QK_TMP/err" || { echo "FAIL: error does not name the file"; cat "$QK_TMP/err"; exit 1; }
grep -qi "file too large" "$QK_TMP/err" || { echo "FAIL: error does not say why"; cat "$QK_TMP/err"; exit 1; }
[ ! -e "$OUT/model.gguf" ] || { echo "FAIL: size limit left an output"; exit 1; }
[ "$(temps_in "$OUT")" -eq 0 ] || { echo "FAIL: size limit left a temporary"; ls -la "$OUT"; exit 1; }
echo "  ok   RLIMIT_FSIZE 64 KiB: exit 1, '$(head -c 150 "$QK_TMP/err" | head -1)'; no output, no temporary"

# a small tmpfs (root only, where mounting is allowed): ENOSPC
MNT=$QK_TMP/mnt; mkdir -p "$MNT"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=256k tmpfs "$MNT" 2> /dev/null; then
  set +e
  "$QK" quantize "$IN/model.bin" "${TOK[@]}" -o "$MNT/model.gguf" --type q4_0 > /dev/null 2> "$QK_TMP/err"
  rc=$?
  set -e
  left=$(ls -A "$MNT" | wc -l)
  umount "$MNT"
  [ "$rc" -eq 1 ] && grep -q "$MNT/model.gguf" "$QK_TMP/err" && grep -qi "no space" "$QK_TMP/err" \
    || { echo "FAIL: full tmpfs: exit $rc"; cat "$QK_TMP/err"; exit 1; }
  [ "$left" -eq 0 ] || { echo "FAIL: full tmpfs: $left files left"; exit 1; }
  echo "  ok   256 KiB tmpfs: exit 1, 'No space left on device' naming the file; nothing left"
else
  echo "  --   256 KiB tmpfs: cannot mount here (not root or no permission); RLIMIT_FSIZE covered it"
fi

# the HF fixture, when present: a few kills of a GGUF conversion
if [ -d "$FIX/models/fixture-llama-7m" ]; then
  HF=$FIX/models/fixture-llama-7m
  hf_before=$(input_sums "$HF")
  "$QK" quantize "$HF" -o "$QK_TMP/hf_ref.gguf" --type q8_0 > /dev/null
  hf_sum=$(sha256sum < "$QK_TMP/hf_ref.gguf")
  t0=$(date +%s%N)
  "$QK" quantize "$HF" -o "$QK_TMP/hf_t.gguf" --type q8_0 > /dev/null
  hf_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  for i in $(seq 1 3); do
    ms=$(( RANDOM % (hf_ms + 1) ))
    rm -f "$OUT/hf.gguf"
    kill_at "$OUT" "$ms" quantize "$HF" -o "$OUT/hf.gguf" --type q8_0
    [ ! -e "$OUT/hf.gguf" ] || [ "$(sha256sum < "$OUT/hf.gguf")" = "$hf_sum" ] \
      || { echo "FAIL: fixture kill $i left a partial file"; exit 1; }
  done
  [ "$(input_sums "$HF")" = "$hf_before" ] || { echo "FAIL: fixture changed"; exit 1; }
  echo "  ok   3 SIGKILLs converting the HF fixture (~${hf_ms} ms runs): no partial file, fixture unchanged"
else
  echo "  --   HF fixture absent ($FIX): fixture round skipped"
fi
echo "PASS"
