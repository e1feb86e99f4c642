#!/bin/bash
# test_share_orphan.sh — an event loop on a shared stack whose driver dies must come to rest,
# as on a kernel whose network goes away. An nginx worker whose driver (its master) died early
# in a failed test spun at 100% of a core for 1.5 hours: its relayed listener's socketpair end
# reported EPOLLIN|EPOLLHUP for ever, accept failed, and the level-triggered epoll_wait
# reported it again at once. A driver (shareclient.py idle) and a client on netcore
# (shareclient.py orphan) with a TCP listener, a UDP socket and an accepted connection from
# the kernel side in one epoll set; the driver is killed with SIGKILL. The client serves what
# is reported until an epoll_wait of 1 s reports nothing, and fails when a socket is reported
# ready more than twice; then poll and select must not report the dead listener and UDP
# socket, their calls fail with ENETDOWN, and epoll_ctl DEL/MOD and close succeed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

nc_bg_run python3 "$NC_SRC/tests/lib/shareclient.py" idle "$NC_NETCORE_IP" 7960 \
    >"$tmp/driver.log" 2>&1
driver=$NC_LAST_PID
nc_wait_line "$tmp/driver.log" '^idle up' "$driver"
[ "$(nc_stack_holders)" = "$driver" ] ||
    fail "the rendezvous lock is held by '$(nc_stack_holders | tr '\n' ' ')', want the driver $driver"

NETCORE_LOG=info nc_bg_run python3 "$NC_SRC/tests/lib/shareclient.py" orphan "$NC_NETCORE_IP" \
    7961 >"$tmp/client.log" 2>&1
client=$NC_LAST_PID
nc_wait_line "$tmp/client.log" '^orphan up' "$client"
grep -q 'attached to the stack' "$tmp/client.log" ||
    fail "the client did not attach to the driver's stack (its sockets are not relayed)"
# A kernel-side connection to the client's listener, held open until the test ends.
mkfifo "$tmp/hold"
nc_bg python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], 7961), timeout=10)
print("connected", flush=True)
open(sys.argv[2]).read()' "$NC_NETCORE_IP" "$tmp/hold" >"$tmp/peer.log" 2>&1
peer=$NC_LAST_PID
exec {hold}<>"$tmp/hold"
nc_at_exit "exec $hold>&-"
nc_wait_line "$tmp/peer.log" '^connected' "$peer"
nc_wait_line "$tmp/client.log" '^(orphan ready|FAIL)' "$client"
[[ $NC_LINE == "orphan ready" ]] || { cat "$tmp/client.log" >&2; fail "orphan: $NC_LINE"; }
nc_wait_blocked "$client" >/dev/null

kill -KILL "$driver"
wait "$driver" 2>/dev/null || true
echo "driver $driver killed"
timeout 30 tail --pid="$client" -s 0.1 -f /dev/null || true
cat "$tmp/client.log"
if kill -0 "$client" 2>/dev/null; then
    fail "the client still runs 30 s after the driver's death: $(cut -d' ' -f14,15 \
        "/proc/$client/stat") ticks of CPU (user, system)"
fi
grep -q '^orphan ok' "$tmp/client.log" || fail "the client's event loop: $(grep -m1 FAIL \
    "$tmp/client.log" || tail -n 1 "$tmp/client.log")"
echo "PASS: test_share_orphan"
