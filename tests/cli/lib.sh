# Helpers for tests/cli/*.sh (sourced). Every script gets the quantkit binary
# and the fixtures folder as $1 and $2; exit 77 means skipped.

require_fixtures() {
  if [ ! -d "$1" ]; then
    echo "SKIP: fixtures folder $1 is absent (../shared/fixtures); this test needs it"
    exit 77
  fi
}

# A value from reference.json: ref_value FIXTURES JQ_FILTER
ref_value() { jq -r "$2" "$1/reference.json"; }

# The "ppl" of `quantkit ... --json`: ppl_of QUANTKIT ARGS...
ppl_of() {
  local qk="$1"; shift
  "$qk" "$@" --json | jq -r .ppl
}

# check_rel NAME GOT WANT TOLERANCE: |got - want| <= tol * |want|
check_rel() {
  if awk -v g="$2" -v w="$3" -v t="$4" 'BEGIN { d = g - w; if (d < 0) d = -d; a = w < 0 ? -w : w; exit !(d <= t * a) }'; then
    printf '  ok   %-45s %s (want %s, tol %s)\n' "$1" "$2" "$3" "$4"
  else
    printf 'FAIL   %-45s %s (want %s, tol %s)\n' "$1" "$2" "$3" "$4"
    exit 1
  fi
}

# tmp dir removed at exit
make_tmp() {
  QK_TMP=$(mktemp -d "${TMPDIR:-/tmp}/qk-cli.XXXXXX")
  trap 'rm -rf "$QK_TMP"' EXIT
}
