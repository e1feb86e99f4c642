#!/bin/bash
# test_share_nbconnect.sh — non-blocking connects on relayed sockets (issue 14, review item 4).
# A driver (tests/lib/shareclient.py idle) holds the stack; a second process on netcore is its
# client, so its sockets are relayed, and poll says writable at once (the socketpair has
# room). An event loop then asks SO_ERROR: on a non-blocking fd that must answer at once, as
# the kernel's does, not wait for the connect's outcome. Checked (shareclient.py nbconnect):
#  - connect to 198.18.0.200 (nobody answers): SO_ERROR 0 and getpeername ENOTCONN, each
#    within 1 s, twice;
#  - connect to a kernel-side listener, then the fd made blocking: getpeername waits and names
#    the peer; to a closed port: SO_ERROR says ECONNREFUSED.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
nc_peer hold 7941

nc_bg_run python3 "$NC_SRC/tests/lib/shareclient.py" idle "$NC_NETCORE_IP" 7940 \
    >"$tmp/driver.log" 2>&1
driver=$NC_LAST_PID
nc_wait_line "$tmp/driver.log" '^idle up' "$driver"

rc=0
NETCORE_LOG=info on_netcore 60 python3 "$NC_SRC/tests/lib/shareclient.py" nbconnect \
    198.18.0.200 "$NC_KERNEL_IP" 7941 >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"
grep -q 'attached to the stack' "$tmp/out" ||
    fail "the client did not attach to the driver's stack (its sockets are not relayed)"
[ "$rc" -eq 0 ] && grep -q '^nbconnect ok$' "$tmp/out" || fail "nbconnect: exit $rc"
kill -0 "$driver" 2>/dev/null || fail "the driver died"
echo "PASS: test_share_nbconnect"
