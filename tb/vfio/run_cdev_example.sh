#!/bin/sh
# ctest vfio.cdev_example: the Device cdev Example (cdev_example.c) on the
# simulated SMMUv3 platform:
#   iommusim exec --config sim/configs/smmuv3_default.yaml -- cdev_example
# Skips (exit 77, with the reason) only while the platform is not there: no
# config file, or an `iommusim exec` without --config. Otherwise the example
# must pass: a platform that does not load is a failure, not a skip.
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
exec "$cli" exec --config "$config" -- "$example"
