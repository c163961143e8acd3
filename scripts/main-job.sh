#!/usr/bin/env bash
# The main job: bootstrap, build, then quantize and measure what it cost.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh
scripts/build.sh build -DQK_WERROR=ON
./build/quantize_tensors
