#!/bin/bash
# test_shim_fork.sh — what a child gets (tests/lib/fork.py): the parent keeps working; a
# forked child's inherited netcore socket fails with ENOTCONN instead of touching the
# parent's; the child's own sockets work on a stack of its own, from the next TAP of the
# pool (its own address); an exec'd program starts clean.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
nc_peer echo 7310
on_netcore 60 python3 "$NC_SRC/tests/lib/fork.py" "$NC_KERNEL_IP" 7310 >"$tmp/out" 2>&1 ||
    { cat "$tmp/out" >&2; fail "fork.py exited non-zero"; }
cat "$tmp/out"
parent=$(sed -n 's/^parent: connection from \([0-9.]*\) still works$/\1/p' "$tmp/out")
child=$(sed -n 's/^child: own connection from \([0-9.]*\)$/\1/p' "$tmp/out")
execd=$(sed -n 's/^exec: own connection from \([0-9.]*\)$/\1/p' "$tmp/out")
[ "$parent" = "$NC_NETCORE_IP" ] || fail "the parent's address is '$parent', want $NC_NETCORE_IP"
[ -n "$child" ] && [ "$child" != "$parent" ] ||
    fail "the child's connection came from '$child': want an address of its own"
[ -n "$execd" ] && [ "$execd" != "$parent" ] ||
    fail "the exec'd program's connection came from '$execd': want an address of its own"
grep -qx "parent: connection still works after a failed exec" "$tmp/out" ||
    fail "the parent's socket did not survive a failed exec"
echo "PASS: test_shim_fork"
