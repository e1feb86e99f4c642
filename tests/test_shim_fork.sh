#!/bin/bash
# test_shim_fork.sh — what a child gets on a shared stack (tests/lib/fork.py, issue 14): a
# forked child's inherited netcore socket is the parent's connection (echo through it), and
# the parent's keeps working after the child; the child's own connection comes from the
# parent's address (one stack, one address); a failed exec leaves the socket alone; an exec'd
# program uses the inherited socket and its own connection comes from the same address.
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
inherited=$(sed -n 's/^child: the inherited socket works, from \([0-9.]*\)$/\1/p' "$tmp/out")
child=$(sed -n 's/^child: own connection from \([0-9.]*\)$/\1/p' "$tmp/out")
execd=$(sed -n 's/^exec: own connection from \([0-9.]*\)$/\1/p' "$tmp/out")
[ "$parent" = "$NC_NETCORE_IP" ] || fail "the parent's address is '$parent', want $NC_NETCORE_IP"
[ "$inherited" = "$NC_NETCORE_IP" ] ||
    fail "the child's inherited socket: '$inherited', want the parent's connection from $NC_NETCORE_IP"
[ "$child" = "$NC_NETCORE_IP" ] ||
    fail "the child's connection came from '$child': want the shared stack's $NC_NETCORE_IP"
[ "$execd" = "$NC_NETCORE_IP" ] ||
    fail "the exec'd program's connection came from '$execd': want $NC_NETCORE_IP"
grep -qx "exec: the inherited socket works, peer $NC_KERNEL_IP" "$tmp/out" ||
    fail "the exec'd program could not use the inherited socket"
grep -qx "parent: connection still works after a failed exec" "$tmp/out" ||
    fail "the parent's socket did not survive a failed exec"
grep -qx "parent: connection still works after the exec'd program" "$tmp/out" ||
    fail "the parent's socket did not survive the exec'd program"
echo "PASS: test_shim_fork"
