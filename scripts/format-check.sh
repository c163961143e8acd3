#!/usr/bin/env bash
# Layout check: every C source and header is as clang-format (.clang-format,
# Debian 12's clang-format 14) lays it out. Fails listing the files that are not.
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h')
else
  mapfile -t files < <(find include src tools tests bench examples -name '*.[ch]' | sort)
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" > /dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "format-check: ${#bad[@]} of ${#files[@]} files differ from clang-format's layout" >&2
  echo "  (run: clang-format -i ${bad[*]})" >&2
  exit 1
fi
echo "format-check: ${#files[@]} files laid out as clang-format does"
