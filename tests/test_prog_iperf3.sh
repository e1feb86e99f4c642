#!/bin/bash
# test_prog_iperf3.sh — unmodified iperf3 on netcore, TCP, 5 s each: as a client against a
# kernel-side `iperf3 -s -1`, then as a one-off server (`iperf3 -s -1`) with a kernel-side
# client. Both runs exit 0, end with sender and receiver throughput lines, and each side's
# report names the other's address. The throughput lines are printed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

# wait_pid PID WHAT: wait for a background job started with a `timeout` of its own.
wait_pid() {
    local rc=0
    wait "$1" || rc=$?
    [ "$rc" -eq 0 ] || fail "$2: exit $rc"
}

# no_errors LOG WHAT: iperf3 on netcore printed no error: a failing socket call (such as
# getsockopt TCP_INFO, which iperf3 reads for its Retr and Cwnd columns) leaves garbage in
# the report even when the transfer itself works. Checked after both runs (errors=1).
errors=0
no_errors() {
    if grep -q '^iperf3: ' "$1"; then
        echo "FAIL: $2 reported errors:" >&2
        grep '^iperf3: ' "$1" | sort | uniq -c >&2
        errors=1
    fi
}

# summary LOG WHAT: LOG has iperf3's sender and receiver summary lines; print them.
summary() {
    if ! grep -Eq '/sec .* +sender$' "$1" || ! grep -Eq '/sec +receiver$' "$1"; then
        cat "$1" >&2
        fail "$2: no sender/receiver throughput lines"
    fi
    echo "$2:"
    grep -E '/sec .*(sender|receiver)$' "$1"
}

nc_require_root
command -v iperf3 >/dev/null || nc_skip "iperf3 not installed"
nc_ns_setup

tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

# 1. iperf3 client on netcore, kernel-side one-off server.
nc_bg timeout 30 iperf3 -s -1 -B "$NC_KERNEL_IP" -p 5201 >"$tmp/ksrv.log" 2>&1
server=$NC_LAST_PID
nc_wait_listen 5201 "$NC_KERNEL_IP"
rc=0
on_netcore 30 iperf3 -c "$NC_KERNEL_IP" -p 5201 -t 5 >"$tmp/ncli.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/ncli.log" >&2; fail "iperf3 -c on netcore: exit $rc"; }
wait_pid "$server" "kernel-side iperf3 -s -1"
grep -q "Accepted connection from $NC_NETCORE_IP" "$tmp/ksrv.log" ||
    { cat "$tmp/ksrv.log" >&2; fail "kernel-side server did not see client $NC_NETCORE_IP"; }
summary "$tmp/ncli.log" "iperf3 client on netcore -> kernel server"
no_errors "$tmp/ncli.log" "iperf3 client on netcore"

# 2. iperf3 -s -1 on netcore, kernel-side client, which starts once the server says it
#    listens (--forceflush: the line reaches the log at once; ss cannot see netcore's
#    listener).
nc_bg_run timeout 30 iperf3 -s -1 --forceflush -B "$NC_NETCORE_IP" -p 5202 >"$tmp/nsrv.log" 2>&1
server=$NC_LAST_PID
nc_wait_line "$tmp/nsrv.log" "^Server listening on 5202" "$server"
ip netns exec "$NC_NS" timeout 30 iperf3 -c "$NC_NETCORE_IP" -p 5202 -t 5 >"$tmp/kcli.log" 2>&1 ||
    { cat "$tmp/kcli.log" >&2; fail "kernel-side iperf3 -c to iperf3 -s on netcore"; }
wait_pid "$server" "iperf3 -s -1 on netcore"
grep -q "Accepted connection from $NC_KERNEL_IP" "$tmp/nsrv.log" ||
    { cat "$tmp/nsrv.log" >&2; fail "iperf3 server on netcore did not see client $NC_KERNEL_IP"; }
summary "$tmp/kcli.log" "kernel client -> iperf3 server on netcore"
no_errors "$tmp/nsrv.log" "iperf3 server on netcore"

[ "$errors" -eq 0 ] || exit 1
echo "PASS: test_prog_iperf3"
