#!/usr/bin/env bash
# The main job: bootstrap, build, then quantize and measure what it cost.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# quantkit's parallel regions are coarse; OpenMP threads that sleep instead
# of spinning between them cost nothing here and keep a shared or
# oversubscribed machine (ctest -j, other jobs) from slowing down many-fold.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
scripts/bootstrap.sh
scripts/build.sh build -DQK_WERROR=ON
./build/quantize_tensors
