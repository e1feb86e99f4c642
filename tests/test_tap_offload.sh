#!/bin/bash
# test_tap_offload.sh — TCP at the TAP's standard MTU (1500) through its offloads
# (core/offload.c): a program on netcore sends 64 MiB to a kernel server and receives 64 MiB
# from another, over IPv4 and over IPv6, both checked by sha256; `netcore stat` shows
# "offload TSO+csum" and GSO frames both ways (so super-segments really crossed the TAP, and
# the kernel took ours). Then NETCORE_OFFLOAD=off on the same (persistent) TAP: plain frames,
# still identical, no GSO frame. ethtool -k shows the TAP's TSO feature on, then off. Last, a
# server one router hop away (the namespace's kernel routes to a second namespace over a veth
# of MTU 1280, whose server advertises an MSS of 1240): our super-segments are cut to that
# MSS, not the TAP link's (the router fragments nothing), and 16 MiB still arrive whole both
# ways.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
command -v socat >/dev/null || nc_skip "needs socat"
export NETCORE_TAP_MTU=1500
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
export NETCORE_STAT=$tmp/stat
mtu=$(ip -n "$NC_NS" -o link show dev "$NC_TAP" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')
[ "$mtu" = 1500 ] || fail "the TAP's MTU is $mtu, want 1500"

head -c 64M /dev/urandom >"$tmp/in"
want=$(nc_sha "$tmp/in")

# The program: sends the file to one kernel server, then takes the other's whole stream, says
# "done", and waits on stdin so that its counters can be read.
cat >"$tmp/prog.py" <<'PY'
import socket, sys
host, up, down, src, dst = sys.argv[1:6]
with socket.create_connection((host, int(up))) as a, open(src, "rb") as f:
    mss = a.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    while True:
        d = f.read(1 << 20)
        if not d:
            break
        a.sendall(d)
    a.shutdown(socket.SHUT_WR)
    a.recv(1)                    # the server's close: everything arrived
with socket.create_connection((host, int(down))) as b, open(dst, "wb") as f:
    while True:
        d = b.recv(1 << 20)
        if not d:
            break
        f.write(d)
print("done", mss, flush=True)
sys.stdin.read()
PY

# The server one router hop away (the last part; run takes it as ADDR).
far=198.18.1.2
mss=
# run FAMILY ADDR OFFLOAD PORT: one round; checks both files and the offload line of the
# stats; leaves the stats in $tmp/stat.txt and the connection's TCP_MAXSEG in mss.
run() {
    local fam=$1 addr=$2 off=$3 port=$4 bind=$2 pid
    [ "$fam" = 6 ] && bind="[$addr]"
    rm -f "$tmp/up" "$tmp/down"
    local ns=$NC_NS
    [ "$addr" = "$far" ] && ns=$far_ns
    NC_NS=$ns nc_bg timeout 120 socat -u "TCP$fam-LISTEN:$port,bind=$bind,reuseaddr" "OPEN:$tmp/up,creat"
    local up_pid=$NC_LAST_PID
    NC_NS=$ns nc_bg timeout 120 socat -u "FILE:$tmp/in" "TCP$fam-LISTEN:$((port + 1)),bind=$bind,reuseaddr"
    NC_NS=$ns nc_wait_listen "$port" "$addr"
    NC_NS=$ns nc_wait_listen "$((port + 1))" "$addr"
    coproc PROG { exec env NETCORE_OFFLOAD="$off" "$NC_SRC/netcore" run \
        --ns "$NC_NS" -- python3 "$tmp/prog.py" "$addr" "$port" "$((port + 1))" "$tmp/in" \
        "$tmp/down"; }
    pid=$PROG_PID
    NC_PIDS+=("$pid")
    local ready=
    read -r -t 100 ready mss <&"${PROG[0]}" || true
    [ "$ready" = done ] || fail "IPv$fam offload=$off: the program did not finish"
    # env execs netcore run, which execs python3: the stats socket is under that pid.
    "$NC_SRC/netcore" stat "$pid" >"$tmp/stat.txt" || fail "netcore stat $pid failed"
    exec {PROG[1]}>&-
    wait "$pid" || fail "IPv$fam offload=$off: the program exited $?"
    wait "$up_pid" || fail "IPv$fam offload=$off: the kernel receiver exited $?"
    [ "$(nc_sha "$tmp/up")" = "$want" ] || fail "IPv$fam offload=$off: netcore->kernel differs"
    [ "$(nc_sha "$tmp/down")" = "$want" ] || fail "IPv$fam offload=$off: kernel->netcore differs"
    grep "^offload " "$tmp/stat.txt" || fail "no offload line in netcore stat"
}

# gso WHICH: the GSO frame count rx or tx from the last round's stats.
gso() {
    sed -n "s/^offload .*GSO frames rx \([0-9]*\)  tx \([0-9]*\).*/\1 \2/p" "$tmp/stat.txt" |
        awk -v w="$1" '{ print (w == "rx" ? $1 : $2) }'
}

# tso_feature on|off: the TAP's TSO feature as netcore's TUNSETOFFLOAD left it (ethtool -k),
# where ethtool is installed.
tso_feature() {
    command -v ethtool >/dev/null || return 0
    ip netns exec "$NC_NS" ethtool -k "$NC_TAP" | grep -q "^tcp-segmentation-offload: $1" ||
        fail "ethtool -k $NC_TAP: tcp-segmentation-offload is not $1"
}

port=7400
for fam in 4 6; do
    addr=$NC_KERNEL_IP
    [ "$fam" = 6 ] && addr=$NC_KERNEL_IP6
    run "$fam" "$addr" on "$port"
    grep -q "^offload  TSO+csum " "$tmp/stat.txt" || fail "IPv$fam: offloads not on"
    rx=$(gso rx) tx=$(gso tx)
    [ "${rx:-0}" -gt 0 ] || fail "IPv$fam: no GSO frame received"
    [ "${tx:-0}" -gt 0 ] || fail "IPv$fam: no GSO frame sent"
    # TCP_MAXSEG is the real MSS, not lwIP's super-segment size
    [ "$mss" = $((fam == 4 ? 1460 : 1440)) ] || fail "IPv$fam: TCP_MAXSEG $mss"
    echo "ok: IPv$fam at MTU 1500 with offloads: 64 MiB each way identical, GSO frames rx $rx tx $tx"
    tso_feature on
    port=$((port + 2))
    run "$fam" "$addr" off "$port"
    grep -q "^offload  off " "$tmp/stat.txt" || fail "IPv$fam: NETCORE_OFFLOAD=off left offloads on"
    [ "$(gso rx)" = 0 ] && [ "$(gso tx)" = 0 ] || fail "IPv$fam: GSO frames without offloads"
    echo "ok: IPv$fam at MTU 1500 without offloads: 64 MiB each way identical"
    tso_feature off
    port=$((port + 2))
done

# A server one router hop away, behind a link of MTU 1280.
far_ns=$NC_NS-far
ip netns add "$far_ns" || fail "ip netns add $far_ns"
nc_at_exit "ip netns del '$far_ns'"
ip link add ncofr0 netns "$NC_NS" mtu 1280 type veth peer name ncofr1 netns "$far_ns" mtu 1280 &&
    ip -n "$NC_NS" addr add 198.18.1.1/24 dev ncofr0 && ip -n "$NC_NS" link set ncofr0 up &&
    ip -n "$far_ns" addr add "$far/24" dev ncofr1 && ip -n "$far_ns" link set ncofr1 up &&
    ip -n "$far_ns" link set lo up && ip -n "$far_ns" route add default via 198.18.1.1 &&
    ip netns exec "$NC_NS" sysctl -qw net.ipv4.ip_forward=1 || fail "could not set up the router hop"
head -c 16M "$tmp/in" >"$tmp/in16" && mv "$tmp/in16" "$tmp/in"
want=$(nc_sha "$tmp/in")
# frags: how many IPv4 fragments the router made (it would fragment segments cut to the TAP
# link's MSS, which lwIP sends without DF).
frags() {
    ip netns exec "$NC_NS" awk '/^Ip:/ { if (!h) { split($0, n); h = 1; next }
        for (i = 2; i <= NF; i++) if (n[i] == "FragCreates") print $i }' /proc/net/snmp
}
frags0=$(frags)
run 4 "$far" on "$port"
[ "$(gso tx)" -gt 0 ] || fail "router hop: no GSO frame sent"
[ "$mss" = 1240 ] || fail "router hop: TCP_MAXSEG $mss, want the far server's 1240"
[ "$(frags)" = "$frags0" ] || fail "router hop: the router fragmented: segments above the MSS"
echo "ok: a server behind a router and a 1280-byte link: 16 MiB each way identical, GSO frames rx $(gso rx) tx $(gso tx)"
