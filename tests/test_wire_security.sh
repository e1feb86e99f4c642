#!/bin/bash
# test_wire_security.sh — what an observer or attacker on the wire sees of netcore.
#  - Initial sequence numbers (RFC 6528) and ephemeral ports of 1,000 connections from one
#    process, read off the wire with tcpdump: no constant step (stock lwIP counts both up).
#  - Ports the program did not open answer with RST (ECONNREFUSED for a kernel client), while
#    the one it listens on takes connections: netcore opens no listener of its own.
#  - The ISNs of one tuple grow across processes, as the kernel's do across a boot (one key
#    per user, RUNDIR/isn.key, 0600): a server holding the tuple in TIME-WAIT takes the next
#    program's SYN at once, with no ACK/RST exchange. A key file that is not private is not
#    used, and said so.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
command -v tcpdump >/dev/null || nc_skip "tcpdump not installed (./netcore deps)"
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
N=1000

# 1. 1,000 connections from one netcore process, SYNs captured on the kernel side (the bridge).
nc_peer close 7900
# tcpdump stops by itself after N SYNs (-c), so none is lost to an early stop.
timeout 60 ip netns exec "$NC_NS" tcpdump -i "$NC_BRIDGE" -B 32768 -n -S -U --immediate-mode -c "$N" -w "$tmp/syn.pcap" \
    "src host $NC_NETCORE_IP and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn" \
    >"$tmp/tcpdump.log" 2>&1 &
dump=$!
NC_PIDS+=("$dump")
nc_wait_line "$tmp/tcpdump.log" "listening on $NC_BRIDGE" "$dump"
on_netcore 120 python3 -c '
import socket, sys
for _ in range(int(sys.argv[3])):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    s.close()
' "$NC_KERNEL_IP" 7900 "$N" || fail "$N connections from netcore"
wait "$dump" || fail "tcpdump did not see $N SYNs: $(cat "$tmp/tcpdump.log")"
tcpdump -n -S -r "$tmp/syn.pcap" 2>/dev/null >"$tmp/syn.txt"
python3 - "$tmp/syn.txt" "$N" <<'PY' || fail "ISNs or ports are predictable"
import collections, re, sys
rows = [re.search(r"\.(\d+) > .*seq (\d+)", l) for l in open(sys.argv[1])]
rows = [(int(m.group(1)), int(m.group(2))) for m in rows if m]
n = int(sys.argv[2])
if len(rows) < n:
    sys.exit(f"captured {len(rows)} SYNs, want {n}")
ok = True
for name, vals, mod in (("ISN", [r[1] for r in rows], 1 << 32), ("port", [r[0] for r in rows], 1 << 16)):
    steps = collections.Counter((b - a) % mod for a, b in zip(vals, vals[1:]))
    step, times = steps.most_common(1)[0]
    print(f"{name}: {len(vals)} values, {len(set(vals))} distinct, {len(steps)} distinct steps, "
          f"commonest step {step} x{times}")
    # A counter shows one step (almost) every time; random values repeat a step by chance only.
    if times > len(vals) // 100:
        ok = False
        print(f"FAIL: {name} step {step} repeats {times} times")
ports = [r[0] for r in rows]
if min(ports) < 32768:
    ok = False
    print(f"FAIL: ephemeral port {min(ports)} below 32768")
sys.exit(0 if ok else 1)
PY
echo "ok: $N ISNs and source ports with no constant step"

# 2. Only the listener the program opened is reachable.
coproc SERVER { exec "$NC_SRC/netcore" run --ns "$NC_NS" -- python3 -c '
import socket, sys
s = socket.create_server(("0.0.0.0", 7901))
print("listening", flush=True)
sys.stdin.read()
'; }
NC_PIDS+=("$SERVER_PID")
read -r -t 10 line <&"${SERVER[0]}" && [ "$line" = listening ] || fail "netcore listener"
ip netns exec "$NC_NS" python3 - "$NC_NETCORE_IP" <<'PY' || fail "a port the program did not open"
import errno, socket, sys
addr = sys.argv[1]
refused = 0
for port in [1, 7, 22, 53, 80, 111, 443, 7900, 7902, 8000, 8080, 32768, 49152, 65535]:
    try:
        socket.create_connection((addr, port), timeout=5).close()
        sys.exit(f"port {port}: connected, but the program listens only on 7901")
    except ConnectionRefusedError:
        refused += 1
socket.create_connection((addr, 7901), timeout=5).close()
print(f"ok: {refused} other ports refused (RST), 7901 accepts")
PY

# 3. Six programs one after another, each on a stack of its own (a TAP of the pool: the address
#    is the same each time, not NC_NETCORE_IP), connect from local port 41000
#    to a server that closes first and so holds the tuple in TIME-WAIT. With a key per process
#    each SYN's ISN fell behind the last connection's with probability 1/2 (all five steps
#    ahead by chance: 1/32), and the server answered it with the old connection's ACK.
K=6
nc_peer close 7902
timeout 60 ip netns exec "$NC_NS" tcpdump -i "$NC_BRIDGE" -B 4096 -n -S -U --immediate-mode \
    -w "$tmp/reuse.pcap" "tcp src port 41000 and \
    (tcp[tcpflags] & tcp-rst != 0 or tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn)" \
    >"$tmp/tcpdump2.log" 2>&1 &
dump=$!
NC_PIDS+=("$dump")
nc_wait_line "$tmp/tcpdump2.log" "listening on $NC_BRIDGE" "$dump"
for i in $(seq "$K"); do
    NETCORE_STACK=own on_netcore 30 python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 41000))
s.connect((sys.argv[1], int(sys.argv[2])))
if s.recv(1) != b"":
    sys.exit("the close peer sent data")
s.close()
' "$NC_KERNEL_IP" 7902 || fail "connection $i from port 41000"
done
kill -INT "$dump"
wait "$dump" || true
tcpdump -n -S -r "$tmp/reuse.pcap" 2>/dev/null >"$tmp/reuse.txt"
python3 - "$tmp/reuse.txt" "$K" <<'PY' || fail "ISNs of a reused tuple across processes"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
resets = [l for l in lines if "Flags [R" in l]
isns = [int(m.group(1)) for l in lines if "Flags [S]" in l for m in [re.search(r"seq (\d+)", l)] if m]
k = int(sys.argv[2])
if len(isns) != k:
    sys.exit(f"{len(isns)} SYNs from port 41000, want {k} (one each, none retransmitted)")
steps = [(b - a) % (1 << 32) for a, b in zip(isns, isns[1:])]
print("ISN steps:", steps, "resets:", len(resets))
if resets or not all(0 < d < (1 << 31) for d in steps):
    sys.exit("an ISN fell behind its tuple's last connection, or netcore reset the server's ACK")
PY
[ "$(stat -c %a "$NETCORE_RUNDIR/isn.key")" = 600 ] || fail "isn.key is not 0600"
echo "ok: $K programs' ISNs from one tuple grow; no SYN met TIME-WAIT's ACK"

# 4. A key file group or others can read is not used, and the warning names it.
chmod 640 "$NETCORE_RUNDIR/isn.key"
NETCORE_STACK=own NETCORE_LOG=warn on_netcore 30 python3 -c '
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2]))).close()
' "$NC_KERNEL_IP" 7902 2>"$tmp/warn.txt" || fail "connect with a key file of mode 0640"
grep -q "isn.key is not a private file" "$tmp/warn.txt" ||
    fail "no warning about a key file of mode 0640: $(cat "$tmp/warn.txt")"
echo "ok: a key file of mode 0640 is refused with a warning; the program still connects"
echo "PASS: test_wire_security"
