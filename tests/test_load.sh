#!/bin/bash
# test_load.sh — 1,000 concurrent TCP connections through the shim, both ways, every byte
# checked (tests/load.c): netcore clients against a kernel-side echo server, then a netcore
# echo server taking 1,000 kernel-side clients. All connections are open at the same time on
# both ends. The netcore process's peak memory must stay within what its configuration
# commits: per connection the two rings (NETCORE_SNDBUF + NETCORE_RCVBUF), plus a fixed base.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

CONNS=1000
BYTES=65536
RING=65536
# lwIP's pools, libevent, the program and libc; ASan's shadow and quarantine when sanitized.
BASE_KB=65536
if ldd "$NC_TOP/preload/.libs/libnetcore.so" | grep libasan >/dev/null; then BASE_KB=1048576; fi
export NETCORE_SNDBUF=$RING NETCORE_RCVBUF=$RING NETCORE_MAX_SOCKETS=$((CONNS + 8))

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
load=$NC_TOP/tests/load

# check_line ROLE LOG: the summary line says CONNS connections, all open at once, every byte.
check_line() {
    local role=$1 log=$2 line
    line=$(grep "^load: $role " "$log") || { cat "$log" >&2; fail "$role: no summary line"; }
    echo "$line"
    [[ $line == *" conns=$CONNS max_open=$CONNS bytes=$((CONNS * BYTES * 2)) "*" errors=0" ]] ||
        fail "$role: expected conns=$CONNS max_open=$CONNS bytes=$((CONNS * BYTES * 2)) errors=0"
}

# check_memory LOG: the netcore side's peak resident size within its commitment.
check_memory() {
    local hwm limit
    hwm=$(sed -n 's/.* hwm_kb=\([0-9]*\) .*/\1/p' "$1")
    limit=$((BASE_KB + (CONNS + 1) * 2 * RING / 1024))
    echo "netcore peak RSS ${hwm} kB, commitment ${limit} kB ($((CONNS + 1)) x 2 x ${RING} B + ${BASE_KB} kB)"
    [ "$hwm" -le "$limit" ] || fail "peak RSS $hwm kB above the commitment $limit kB"
}

# 1. netcore clients, kernel echo server.
nc_bg "$load" server "$NC_KERNEL_IP" 9100 "$CONNS" >"$tmp/kserver.log" 2>&1
kserver=$NC_LAST_PID
nc_wait_listen 9100 "$NC_KERNEL_IP"
on_netcore 150 "$load" client "$NC_KERNEL_IP" 9100 "$CONNS" "$BYTES" >"$tmp/nclient.log" 2>&1 ||
    { cat "$tmp/nclient.log" >&2; fail "netcore client exited non-zero"; }
wait "$kserver" || { cat "$tmp/kserver.log" >&2; fail "kernel echo server exited non-zero"; }
check_line client "$tmp/nclient.log"
check_line server "$tmp/kserver.log"
check_memory "$tmp/nclient.log"
echo "ok: $CONNS netcore clients against a kernel echo server"

# 2. netcore echo server, kernel clients.
nc_bg_run "$load" server "$NC_NETCORE_IP" 9101 "$CONNS" >"$tmp/nserver.log" 2>&1
nserver=$NC_LAST_PID
nc_wait_line "$tmp/nserver.log" '^load: listening' "$nserver"
timeout 150 ip netns exec "$NC_NS" "$load" client "$NC_NETCORE_IP" 9101 "$CONNS" "$BYTES" \
    >"$tmp/kclient.log" 2>&1 || { cat "$tmp/kclient.log" >&2; fail "kernel clients exited non-zero"; }
wait "$nserver" || { cat "$tmp/nserver.log" >&2; fail "netcore echo server exited non-zero"; }
check_line client "$tmp/kclient.log"
check_line server "$tmp/nserver.log"
check_memory "$tmp/nserver.log"
echo "ok: a netcore echo server took $CONNS kernel clients"
# 3. Limits instead of growth: the socket table gives EMFILE at NETCORE_MAX_SOCKETS, and a
# listener's queue takes backlog + 1 connections (NETCORE_BACKLOG caps the backlog, like the
# kernel's somaxconn); further SYNs are dropped, as the kernel drops them.
NETCORE_MAX_SOCKETS=16 on_netcore 30 python3 "$NC_SRC/tests/lib/limits.py" sockets 16 ||
    fail "NETCORE_MAX_SOCKETS=16 not enforced with EMFILE"
coproc LISTENER { NETCORE_BACKLOG=4 exec "$NC_SRC/netcore" run --ns "$NC_NS" -- \
    python3 "$NC_SRC/tests/lib/limits.py" listen "$NC_NETCORE_IP" 9102 100; }
NC_PIDS+=("$LISTENER_PID")
read -r -t 10 line <&"${LISTENER[0]}" && [ "$line" = listening ] || fail "backlog listener"
ip netns exec "$NC_NS" python3 "$NC_SRC/tests/lib/limits.py" connect "$NC_NETCORE_IP" 9102 10 4 ||
    fail "listen(100) with NETCORE_BACKLOG=4: not 5 connections queued"
echo "PASS: test_load"
