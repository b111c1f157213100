#!/usr/bin/env bash
# The main job: install dependencies, build iommusim, run its demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DIOMMUSIM_BUILD_TESTS=OFF -DIOMMUSIM_BUILD_BENCH=OFF
cmake --build build --target iommusim_cli
exec build/sim/iommusim demo "$@"
