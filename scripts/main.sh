#!/usr/bin/env bash
# The main job: install dependencies, build iommusim, run its default scenario
# (a 100 Gb/s NIC receive path through an MMU-600-like SMMUv3: translation
# statistics and a plot, nic_rx_100g.svg). Arguments go to `iommusim run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DIOMMUSIM_BUILD_TESTS=OFF -DIOMMUSIM_BUILD_BENCH=OFF
cmake --build build --target iommusim_cli
exec build/sim/iommusim run "$@"
