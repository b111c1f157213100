#!/bin/sh
# preload.exec_status: `iommusim exec` is transparent about exit status and
# arguments, reports a missing program as a shell does (127), keeps existing
# LD_PRELOAD entries, and finds the preload library in the build tree, through
# a symlink, and in an install layout (bin/ and lib/ under one prefix).
#   exec_status.sh IOMMUSIM PRELOAD_SO LIBIOMMUSIM_SO
set -u
iommusim=$1
preload=$2
libiommusim=$3
failures=0
tmp=$(mktemp -d /tmp/iommusim-exec-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect_status WANT CMD...: CMD exits with WANT.
expect_status() {
    want=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "'$*' exited $got, want $want (stderr: $(cat "$tmp/err"))"
    fi
}

# expect_output WANT CMD...: CMD exits 0 and prints exactly WANT.
expect_output() {
    want=$1
    shift
    got=$("$@" 2>"$tmp/err")
    status=$?
    if [ "$status" -ne 0 ] || [ "$got" != "$want" ]; then
        fail "'$*' printed '$got' (status $status), want '$want'"
    fi
}

# The program's own status, however it ends.
expect_status 0 "$iommusim" exec true
expect_status 1 "$iommusim" exec false
expect_status 7 "$iommusim" exec sh -c 'exit 7'
expect_status 3 "$iommusim" exec -- sh -c 'exit 3'
expect_status 143 sh -c "\"$iommusim\" exec sh -c 'kill -TERM \$\$'"

# Arguments reach the program untouched, including ones that look like ours.
expect_output 'a|--help||b c|--|' "$iommusim" exec printf '%s|' a --help '' 'b c' --
expect_output '-x' "$iommusim" exec -- printf '%s' -x

# Not found, and not runnable, as a shell reports them.
expect_status 127 "$iommusim" exec iommusim-no-such-program
grep -q 'iommusim-no-such-program' "$tmp/err" || fail "no message naming the missing program"
expect_status 127 "$iommusim" exec /nonexistent/prog
printf 'not a program\n' >"$tmp/plain"
chmod 644 "$tmp/plain"
expect_status 126 "$iommusim" exec "$tmp/plain"

# Usage errors exit 2; --help exits 0.
expect_status 2 "$iommusim"
expect_status 2 "$iommusim" exec
expect_status 2 "$iommusim" exec --no-such-option true
expect_status 2 "$iommusim" no-such-subcommand
expect_status 2 "$iommusim" demo --no-such-option
expect_status 0 "$iommusim" --help
expect_status 0 "$iommusim" exec --help
expect_status 0 "$iommusim" demo --help

# Ours comes first in LD_PRELOAD; what was there stays.
preload_real=$(readlink -f "$preload")
expect_output "$preload_real" "$iommusim" exec sh -c 'printf %s "$LD_PRELOAD"'
expect_output "$preload_real:libc.so.6" env LD_PRELOAD=libc.so.6 "$iommusim" exec sh -c 'printf %s "$LD_PRELOAD"'

# Run through a symlink: the library is found from the real executable.
ln -s "$(readlink -f "$iommusim")" "$tmp/iommusim-link"
expect_output "$preload_real" "$tmp/iommusim-link" exec sh -c 'printf %s "$LD_PRELOAD"'

# An install layout: <prefix>/bin/iommusim finds <prefix>/lib/libiommusim_preload.so,
# and the preload library finds libiommusim next to it.
mkdir -p "$tmp/prefix/bin" "$tmp/prefix/lib"
cp "$iommusim" "$tmp/prefix/bin/iommusim"
cp "$preload" "$tmp/prefix/lib/libiommusim_preload.so"
cp "$libiommusim" "$tmp/prefix/lib/$(basename "$libiommusim")"
soname=$(basename "$(readlink -f "$libiommusim")")
[ -e "$tmp/prefix/lib/$soname" ] || cp "$libiommusim" "$tmp/prefix/lib/$soname"
for link in libiommusim.so.0 libiommusim.so; do
    [ -e "$tmp/prefix/lib/$link" ] || ln -s "$soname" "$tmp/prefix/lib/$link"
done
expect_output "$tmp/prefix/lib/libiommusim_preload.so" \
    "$tmp/prefix/bin/iommusim" exec sh -c 'printf %s "$LD_PRELOAD"'
LD_DEBUG=libs "$tmp/prefix/bin/iommusim" exec true 2>"$tmp/ld" >/dev/null
grep -q "calling init: $tmp/prefix/lib/libiommusim.so" "$tmp/ld" ||
    fail "the installed preload library did not load libiommusim from its own lib/"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all exec checks passed"
