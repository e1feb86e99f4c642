#!/bin/bash
# test_wire_security.sh — what an observer or attacker on the wire sees of netcore.
#  - Initial sequence numbers (RFC 6528) and ephemeral ports of 1,000 connections from one
#    process, read off the wire with tcpdump: no constant step (stock lwIP counts both up).
#  - Ports the program did not open answer with RST (ECONNREFUSED for a kernel client), while
#    the one it listens on takes connections: netcore opens no listener of its own.
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
echo "PASS: test_wire_security"
