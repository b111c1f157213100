#!/usr/bin/env bash
# Installs what iommusim builds and runs with, from Debian 12's packages only.
#   scripts/install-deps.sh          build and run dependencies
#   scripts/install-deps.sh --test   plus what the test suite needs (the Linux
#                                    6.12 source: its uAPI header and selftest)
set -euo pipefail
pkgs=(build-essential cmake ninja-build ccache pkg-config git
      libsystemc-dev verilator libgtest-dev libbenchmark-dev
      pybind11-dev python3-pybind11 python3-dev
      libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libfmt-dev
      python3-numpy python3-matplotlib python3-pandas python3-yaml python3-pytest
      python3-distributed python3-zstandard libzstd-dev zstd xz-utils
      zlib1g-dev)  # zlib: the RTL IOTLB's FST waveform writer (Verilator's fstapi)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(linux-source-6.12)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
