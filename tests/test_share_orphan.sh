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
# Four times: the client in epoll_wait when the driver dies; a client that serves only once
# a new driver has come, from a thread of its own (whose first call reaches the new driver,
# which does not know the old sockets: EBADF there); and a client that only polls its
# listener and UDP socket once the driver is gone, never calling on them: poll must not
# report them more than twice; the same with select.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

# start_driver PORT NAME: a driver of the stack (the first process on it); its pid in driver.
start_driver() {
    nc_bg_run python3 "$NC_SRC/tests/lib/shareclient.py" idle "$NC_NETCORE_IP" "$1" \
        >"$tmp/$2.log" 2>&1
    driver=$NC_LAST_PID
    nc_wait_line "$tmp/$2.log" '^idle up' "$driver"
    [ "$(nc_stack_holders)" = "$driver" ] || fail "the rendezvous lock is held by" \
        "'$(nc_stack_holders | tr '\n' ' ')', want the driver $driver"
}

# orphan PORT [fresh|pollonly|selectonly]: a driver, the client on PORT, a kernel-side
# connection to it, the driver killed (and a new one started: fresh).
orphan() {
    local port=$1 mode=${2:-} log=$tmp/client$1.log
    start_driver $((port + 100)) driver$port
    mkfifo "$tmp/go$port" "$tmp/hold$port"
    exec {go}<>"$tmp/go$port"
    NETCORE_LOG=info nc_bg_run python3 "$NC_SRC/tests/lib/shareclient.py" orphan \
        "$NC_NETCORE_IP" "$port" $mode <"$tmp/go$port" >"$log" 2>&1
    client=$NC_LAST_PID
    nc_wait_line "$log" '^orphan up' "$client"
    grep -q 'attached to the stack' "$log" ||
        fail "the client did not attach to the driver's stack (its sockets are not relayed)"
    # A kernel-side connection to the client's listener, held open until the test ends.
    nc_bg python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print("connected", flush=True)
open(sys.argv[3]).read()' "$NC_NETCORE_IP" "$port" "$tmp/hold$port" >"$tmp/peer$port.log" 2>&1
    exec {hold}<>"$tmp/hold$port"
    nc_at_exit "exec $hold>&-"
    nc_wait_line "$tmp/peer$port.log" '^connected' "$NC_LAST_PID"
    nc_wait_line "$log" '^(orphan ready|FAIL)' "$client"
    [[ $NC_LINE == "orphan ready" ]] || { cat "$log" >&2; fail "orphan: $NC_LINE"; }
    nc_wait_blocked "$client" >/dev/null

    kill -KILL "$driver"
    wait "$driver" 2>/dev/null || true
    echo "driver $driver killed"
    if [ "$mode" = fresh ]; then
        start_driver $((port + 200)) newdriver$port
        echo "a new driver $driver"
    fi
    echo go >&"$go"
    timeout 30 tail --pid="$client" -s 0.1 -f /dev/null || true
    cat "$log"
    if kill -0 "$client" 2>/dev/null; then
        fail "the client still runs 30 s after the driver's death: $(cut -d' ' -f14,15 \
            "/proc/$client/stat") ticks of CPU (user, system)"
    fi
    grep -q '^orphan ok' "$log" ||
        fail "the client's event loop: $(grep -m1 FAIL "$log" || tail -n 1 "$log")"
    exec {go}>&-
    if [ "$mode" = fresh ]; then # the next driver is the next test's
        kill "$driver"
        wait "$driver" 2>/dev/null || true
        nc_stack_wait_free 10
    fi
}

orphan 7961
echo "ok: in epoll_wait when the driver died"
orphan 7962 fresh
echo "ok: a new thread, on the stack of a new driver"
orphan 7963 pollonly
echo "ok: a loop that only polls"
orphan 7964 selectonly
echo "ok: a loop that only selects"
echo "PASS: test_share_orphan"
