#!/bin/sh
# ctest vfio.cdev_example: the Device cdev Example (cdev_example.c) on the
# simulated SMMUv3 platform:
#   iommusim exec --config sim/configs/smmuv3_default.yaml -- cdev_example
# A platform that does not load, or an example that does not pass, fails.
#
# usage: run_cdev_example.sh IOMMUSIM CONFIG EXAMPLE
set -u
cli=$1 config=$2 example=$3
exec "$cli" exec --config "$config" -- "$example"
