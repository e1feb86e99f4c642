#!/bin/bash
# test_share_udpdown.sh — a relayed UDP socket when the stack's driver dies (issue 14, review
# item 7). Its socketpair is SOCK_SEQPACKET and every datagram carries a header, so a read of 0
# bytes is the end of the pair, never an empty datagram. A driver (shareclient.py idle) and a
# client on netcore (shareclient.py udpdown) that receives a datagram from the kernel side,
# checks that a socket it shut for reading itself reads b'' (that 0 is a real end), and then
# blocks in recvfrom. The driver is killed with SIGKILL: recvfrom must fail with ENETDOWN
# (or ECONNRESET) within 1.5 s, measured on CLOCK_MONOTONIC, instead of returning empty
# datagrams forever.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

nc_bg_run python3 "$NC_SRC/tests/lib/shareclient.py" idle "$NC_NETCORE_IP" 7950 \
    >"$tmp/driver.log" 2>&1
driver=$NC_LAST_PID
nc_wait_line "$tmp/driver.log" '^idle up' "$driver"
[ "$(nc_stack_holders)" = "$driver" ] ||
    fail "the rendezvous lock is held by '$(nc_stack_holders | tr '\n' ' ')', want the driver $driver"

NETCORE_LOG=info nc_bg_run python3 "$NC_SRC/tests/lib/shareclient.py" udpdown "$NC_NETCORE_IP" 7951 \
    >"$tmp/udp.log" 2>&1
client=$NC_LAST_PID
nc_wait_line "$tmp/udp.log" '^udp up' "$client"
grep -q 'attached to the stack' "$tmp/udp.log" ||
    fail "the client did not attach to the driver's stack (its sockets are not relayed)"
# Three datagrams, in case the first waits for ARP; the later ones are read as data.
ip netns exec "$NC_NS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3):
    s.sendto(b"x%d" % i, (sys.argv[1], 7951))' "$NC_NETCORE_IP"
nc_wait_line "$tmp/udp.log" '^(udp ready|FAIL)' "$client"
[[ $NC_LINE == "udp ready" ]] || { cat "$tmp/udp.log" >&2; fail "udpdown: $NC_LINE"; }
echo "ok: a datagram received; a socket shut for reading reads b''"
nc_wait_blocked "$client" >/dev/null

t_kill=$(python3 -c 'import os, sys, time; t = time.monotonic(); os.kill(int(sys.argv[1]), 9)
print(f"{t:.6f}")' "$driver")
echo "driver $driver killed at $t_kill"
timeout 10 tail --pid="$client" -s 0.1 -f /dev/null || true
cat "$tmp/udp.log"
line=$(grep -E '^recvfrom: [^ ]+ at [0-9.]+$' "$tmp/udp.log") ||
    fail "recvfrom did not fail within 10 s of the driver's death"
t=${line##* }
what=$(awk '{print $2}' <<<"$line")
dt=$(awk -v a="$t" -v b="$t_kill" 'BEGIN { printf "%.3f", a - b }')
echo "recvfrom: $what $dt s after the kill"
[[ $what == ENETDOWN || $what == ECONNRESET ]] || fail "recvfrom: $what"
awk -v d="$dt" 'BEGIN { exit !(d < 1.5) }' || fail "recvfrom took $dt s"
echo "PASS: test_share_udpdown"
