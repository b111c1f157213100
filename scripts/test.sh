#!/usr/bin/env bash
# The whole test suite: install dependencies, build everything (including the
# ASan+UBSan and TSan builds of the iommufd core), run every ctest test.
# Run one area alone with:  scripts/test.sh -L core   (or smmuv3, vtd, rtl, python, sim)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
cmake -S . -B build -G Ninja
cmake --build build
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
