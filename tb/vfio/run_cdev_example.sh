#!/bin/sh
# ctest vfio.cdev_example: the Device cdev Example (cdev_example.c) on the
# simulated SMMUv3 platform:
#   iommusim exec --config sim/configs/smmuv3_default.yaml -- cdev_example
# Skips (exit 77, with the reason) while the platform is not there yet: no
# config file, an `iommusim exec` without --config, or a platform that does
# not load (`iommusim exec --config CONFIG -- true` fails). Once it loads, the
# example must pass.
#
# usage: run_cdev_example.sh IOMMUSIM CONFIG EXAMPLE
set -u
cli=$1 config=$2 example=$3

skip() {
    echo "SKIP: $*"
    exit 77
}

[ -f "$config" ] || skip "$config does not exist yet (the SMMUv3 default platform)"
"$cli" exec --help 2>&1 | grep -q -- '--config' ||
    skip "'iommusim exec' has no --config option yet"
if ! out=$("$cli" exec --config "$config" -- true 2>&1); then
    skip "the platform of $config does not load yet: $out"
fi
exec "$cli" exec --config "$config" -- "$example"
