#!/usr/bin/env bash
# The main job: install dependencies, build iommusim, install it (the CLI,
# libiommusim.so and the `iommusim` Python package under /usr/local, so
# `iommusim` is on PATH and `import iommusim` works for /usr/bin/python3), and
# run its default scenario: a 100 Gb/s NIC receive path through an
# MMU-600-like SMMUv3, printing translation statistics and writing a plot
# (nic_rx_100g.svg). Arguments go to `iommusim run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DIOMMUSIM_BUILD_TESTS=OFF -DIOMMUSIM_BUILD_BENCH=OFF
cmake --build build --target iommusim_cli iommusim_python
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
$SUDO cmake --install build >/dev/null
exec build/sim/iommusim run "$@"
