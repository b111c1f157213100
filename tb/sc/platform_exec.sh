#!/bin/sh
# platform.exec_config: `iommusim exec --config PLATFORM -- PROGRAM`.
#  - a platform file with errors: each printed as FILE:LINE:COL: reason, exit 2,
#    and the program does not run;
#  - a good one: an unmodified program reaches /dev/vfio/devices/vfio0, its
#    DMA lands in its buffer, and the platform's statistics are written at
#    its exit;
#  - the platform is built in the process that first opens a simulated device,
#    not in a shell that starts it.
#   platform_exec.sh IOMMUSIM PROGRAM SOURCE_DIR
set -u
iommusim=$1
program=$2
src=$3
failures=0
tmp=$(mktemp -d /tmp/iommusim-platform-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# 1. Errors, all of them, before anything runs.
cat > "$tmp/bad.yaml" <<'YAML'
iommus:
  - {name: smmu0, bogus: 1}
devices:
  - {name: d0, type: dma_test, iommu: smmu9, stream_id: 1}
YAML
"$iommusim" exec --config "$tmp/bad.yaml" -- sh -c "touch $tmp/ran" >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" -eq 2 ] || fail "a bad platform exited $status, want 2"
[ ! -e "$tmp/ran" ] || fail "the program ran despite a bad platform"
grep -q "^$tmp/bad.yaml:2:19: iommus\[0\].bogus: unknown key" "$tmp/err" ||
    fail "first error: $(sed -n 1p "$tmp/err")"
grep -q "^$tmp/bad.yaml:4:39: devices\[0\].iommu: no IOMMU named 'smmu9' (IOMMUs: smmu0)$" "$tmp/err" ||
    fail "second error: $(sed -n 2p "$tmp/err")"
[ "$(wc -l < "$tmp/err")" -eq 2 ] || fail "want exactly 2 lines of errors, got: $(cat "$tmp/err")"
"$iommusim" exec --config "$tmp/missing.yaml" -- true 2>"$tmp/err"
[ $? -eq 2 ] || fail "a missing platform file must exit 2"
grep -q "^$tmp/missing.yaml: cannot open: No such file or directory$" "$tmp/err" ||
    fail "missing file: $(cat "$tmp/err")"

# 2. A good platform, with statistics at exit.
cp "$src/sim/configs/smmuv3_default.yaml" "$tmp/p.yaml"
echo "output: {stats_json: $tmp/stats.json}" >> "$tmp/p.yaml"
out=$("$iommusim" exec --config "$tmp/p.yaml" -- "$program" 2>"$tmp/err")
status=$?
[ "$status" -eq 0 ] && [ "$out" = "ok" ] || fail "the VFIO program: status $status, output '$out', stderr: $(cat "$tmp/err")"
[ -s "$tmp/stats.json" ] || fail "no statistics at exit"
grep -q '"upstream.dma0"' "$tmp/stats.json" || fail "statistics lack the device's tap"

# 3. Through a shell: the shell never opens a device, so only the program
#    builds a platform (one statistics file, written once, by it).
rm -f "$tmp/stats.json"
out=$("$iommusim" exec --config "$tmp/p.yaml" -- sh -c "\"$program\" && echo shell-done" 2>"$tmp/err")
[ "$out" = "ok
shell-done" ] || fail "through sh: '$out', stderr: $(cat "$tmp/err")"
[ -s "$tmp/stats.json" ] || fail "no statistics through sh"

# 4. IOMMUSIM_PLATFORM alone names the platform, too.
out=$(IOMMUSIM_PLATFORM="$tmp/p.yaml" "$iommusim" exec -- "$program" 2>"$tmp/err")
[ "$out" = "ok" ] || fail "with IOMMUSIM_PLATFORM: '$out', stderr: $(cat "$tmp/err")"

[ "$failures" -eq 0 ] || exit 1
echo "platform.exec_config: all checks passed"
