#!/bin/bash
# test_ops_stat.sh — `netcore stat` shows a running program's counters and socket table:
# an established connection with unsent bytes queued, a listener and a UDP socket, with the
# right addresses; --watch refreshes; the stats socket goes away when the program exits, and
# a bad NETCORE_STAT names the variable.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
export NETCORE_STAT=$tmp/stat
nc_peer hold 7330

cat >"$tmp/prog.py" <<'PY'
import socket, sys
a = socket.create_connection((sys.argv[1], 7330))
a.setblocking(False)
try:
    while True:
        a.send(b"x" * 65536)   # the peer never reads: the send queue fills
except BlockingIOError:
    pass
l = socket.create_server(("0.0.0.0", 7331))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("0.0.0.0", 7332))
print("ready", a.getsockname()[1], flush=True)
sys.stdin.read()
PY
coproc PROG { exec "$NC_SRC/netcore" run --ns "$NC_NS" -- python3 "$tmp/prog.py" "$NC_KERNEL_IP"; }
pid=$PROG_PID   # bash forgets PROG_PID once the coprocess ends
NC_PIDS+=("$pid")
read -r -t 20 ready port <&"${PROG[0]}" && [ "$ready" = ready ] || fail "the program did not start"

"$NC_SRC/netcore" stat "$pid" >"$tmp/stat.txt" || fail "netcore stat $pid failed"
cat "$tmp/stat.txt"
grep -q "^netcore\[$pid\] on $NC_TAP (pool device 0) $NC_NETCORE_IP/24" "$tmp/stat.txt" ||
    fail "no header line for process $pid"
grep -q "^sockets  3 of " "$tmp/stat.txt" || fail "want 3 sockets"
# The kernel's drops towards the device since the program began, read in this namespace.
grep -Eq "^dropped .* by the kernel \(device queue full\) [0-9]+$" "$tmp/stat.txt" ||
    fail "no count of the kernel's drops on the device: $(grep '^dropped' "$tmp/stat.txt")"
line=$(grep -E " tcp +ESTABLISHED +$NC_NETCORE_IP:$port +$NC_KERNEL_IP:7330 " "$tmp/stat.txt") ||
    fail "the established connection is not listed"
sendq=$(awk '{print $6}' <<<"$line")
[ "$sendq" -gt 65536 ] || fail "SEND-Q $sendq: want the unsent bytes (> 64 KiB)"
grep -Eq " tcp +LISTEN +\*:7331 " "$tmp/stat.txt" || fail "the listener is not listed"
grep -Eq " udp +BOUND +\*:7332 " "$tmp/stat.txt" || fail "the UDP socket is not listed"
echo "ok: netcore stat lists the connection (SEND-Q $sendq), the listener and the UDP socket"

# Without a PID: every process in the directory. --watch refreshes until stopped.
"$NC_SRC/netcore" stat >"$tmp/all.txt" || fail "netcore stat (all) failed"
grep -q "^netcore\[$pid\]" "$tmp/all.txt" || fail "netcore stat (all) misses it"
# The second dump ends the wait (grep -m2 leaves, the watcher's next write meets a closed
# pipe); the timeout only bounds a watcher that never refreshes, however loaded the machine.
timeout 30 "$NC_SRC/netcore" stat --watch=1 "$pid" |
    grep -m2 "^netcore\[$pid\]" >"$tmp/watch.txt" || true
n=$(grep -c "^netcore\[$pid\]" "$tmp/watch.txt")
[ "$n" -eq 2 ] || fail "--watch=1 showed $n dumps in 30 s, want 2"
echo "ok: netcore stat --watch refreshed"

# The program ends normally: its socket is removed; stat then finds nobody.
exec {PROG[1]}>&-
wait "$pid" || fail "the program exited $?"
[ ! -e "$NETCORE_STAT/$pid.sock" ] || fail "the stats socket outlived the program"
! "$NC_SRC/netcore" stat >/dev/null 2>&1 || fail "netcore stat answered with no program running"

err=$(NETCORE_STAT=relative/dir on_netcore 10 python3 -c 'import socket; socket.socket()' 2>&1) &&
    fail "NETCORE_STAT=relative/dir was accepted"
[[ $err == *'NETCORE_STAT="relative/dir": expected an absolute directory path, or off'* ]] ||
    fail "bad NETCORE_STAT: $err"
echo "PASS: test_ops_stat"
