#!/bin/bash
# test_sem_linger.sh — a hold left lingering never leaves the network unserved. A thread whose
# blocking recv got a short answer leaves its device hold lazy (devwatch.c): the device stays
# disarmed, the netstack thread sleeps through frames, and the thread's next call takes the
# hold over. A program that goes off to other work instead (here: sleeps in nanosleep, which
# netcore does not see) must still have what the peer sends read, acknowledged and queued for
# it: the linger tick lets the hold go within two ticks (8 ms). The client, on netcore, asks a
# kernel-side server for a few short answers (the tick starts with the first hold), then for
# one more, after which the server sends 16 KiB 5 ms later without being asked. The client
# sleeps 50 ms and then looks only with FIONREAD, which reads no device: every byte must be
# there, and then read back by content (sha256). Eight times: the tick must go on across
# bursts of holds (it once stopped after its first round, and lwIP's next timer, 100 ms or
# more away, started it again).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
work=$(mktemp -d)
nc_at_exit "rm -rf '$work'"

cat >"$work/server.py" <<'PY'
import hashlib, os, socket, sys, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(4)
tail = os.urandom(16384)
open(sys.argv[3], "w").write(hashlib.sha256(tail).hexdigest())
c, _ = l.accept()
while True:
    q = c.recv(1)
    if q == b"q":        # a short answer
        c.sendall(b"a")
    elif q == b"t":      # a short answer, then the tail unasked, once the client is away
        c.sendall(b"a")
        time.sleep(0.005)
        c.sendall(tail)
    else:
        break
PY

cat >"$work/client.py" <<'PY'
import fcntl, hashlib, socket, struct, sys, termios, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
for cycle in range(8):
    for _ in range(20):
        s.sendall(b"q")
        assert s.recv(1) == b"a"
    s.sendall(b"t")
    assert s.recv(1) == b"a"
    time.sleep(0.05)
    n = struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0\0\0\0"))[0]
    data = b""
    while len(data) < 16384:
        d = s.recv(16384 - len(data))
        assert d, "EOF"
        data += d
    print("cycle", cycle, "queued", n, "sha256", hashlib.sha256(data).hexdigest())
s.close()
PY

nc_bg timeout 60 python3 "$work/server.py" "$NC_KERNEL_IP" 9211 "$work/sum"
nc_wait_listen 9211
# A spin long enough for the server's answer: the hold then lingers after every recv.
out=$(NETCORE_SPIN_US=2000 timeout 30 "$NC_SRC/netcore" run --ns "$NC_NS" -- \
    python3 "$work/client.py" "$NC_KERNEL_IP" 9211 2>&1) || fail "client failed: $out"
sum=$(cat "$work/sum")
[ "$(grep -c "^cycle .* sha256 $sum\$" <<<"$out")" = 8 ] || fail "a tail's sha256 differs: $out"
short=$(grep -v "^cycle [0-9] queued 16384 " <<<"$out" || true)
[ -z "$short" ] ||
    fail "50 ms after the server sent it, a tail was not all queued (the device left unread?): $out"
echo "PASS: test_sem_linger (8 times 16 KiB read and queued while the program slept)"
