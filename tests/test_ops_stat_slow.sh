#!/bin/bash
# test_ops_stat_slow.sh — stats clients that connect and never read do not hold up the
# netstack thread. A netcore program with 3000 sockets (a dump larger than a unix socket's
# buffer) serves 1-byte ping-pongs while blocked in recv, so every byte it gets reaches it
# through the netstack thread (no spinning: NETCORE_SPIN_US=0); meanwhile a flood of stats
# clients connects and never reads. Before, the thread wrote each dump with a 200 ms send
# timeout: 200 round trips took far over a minute. Now they finish well inside the limit,
# the surplus clients are dropped, and `netcore stat` counts the drops.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

cat >"$tmp/prog.py" <<'PY'
import resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (16384, 16384))
udp = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3000)]
l = socket.create_server(("0.0.0.0", 7340))
print("ready", flush=True)
c, _ = l.accept()
while True:
    b = c.recv(1)
    if not b:
        break
    c.sendall(b)
sys.stdin.read()
PY
cat >"$tmp/flood.py" <<'PY'
import socket, sys
held = []
for i in range(300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    held.append(s)       # never read
    if i == 0:
        print("first", flush=True)
sys.stdin.read()
PY
cat >"$tmp/ping.py" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 7340))
for i in range(200):
    s.sendall(b"x")
    if s.recv(1) != b"x":
        sys.exit("no echo at round trip %d" % i)
print("ok: 200 round trips")
PY

coproc PROG { NETCORE_MAX_SOCKETS=4096 NETCORE_SPIN_US=0 exec "$NC_SRC/netcore" run \
    --ns "$NC_NS" -- python3 "$tmp/prog.py"; }
pid=$PROG_PID
NC_PIDS+=("$pid")
read -r -t 30 ready <&"${PROG[0]}" && [ "$ready" = ready ] || fail "the program did not start"

mkfifo "$tmp/fin" "$tmp/fout"
exec {fin}<>"$tmp/fin"
python3 "$tmp/flood.py" "$NETCORE_STAT/$pid.sock" <"$tmp/fin" >"$tmp/fout" {fin}>&- &
flood=$!
NC_PIDS+=("$flood")
exec {fout}<"$tmp/fout"
read -r -t 20 first <&"$fout" && [ "$first" = first ] || fail "no stats client connected"

ip netns exec "$NC_NS" timeout 20 python3 "$tmp/ping.py" "$NC_NETCORE_IP" ||
    fail "200 round trips did not finish in 20 s beside stats clients that never read"

exec {fin}>&-
wait "$flood" || fail "the stats clients' program failed"
"$NC_SRC/netcore" stat "$pid" >"$tmp/stat.txt" || fail "netcore stat $pid failed"
dropped=$(awk '/^stat +clients dropped/ {print $4}' "$tmp/stat.txt")
[ -n "$dropped" ] && [ "$dropped" -ge 1 ] ||
    fail "want dropped stats clients counted, got '$dropped'"
grep -Eq "^sockets  3002 of 4096 " "$tmp/stat.txt" ||
    fail "the dump is not whole: $(head -6 "$tmp/stat.txt")"
echo "ok: $dropped stats clients dropped; a later netcore stat gets the whole dump"
exec {PROG[1]}>&-
wait "$pid" || fail "the program exited $?"
echo "PASS: test_ops_stat_slow"
