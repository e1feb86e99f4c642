#!/bin/bash
# test_sem_linger.sh — a hold left lingering never leaves the network unserved. A thread whose
# blocking recv got a short answer leaves its device hold lazy (devwatch.c): the device stays
# disarmed, the netstack thread sleeps through frames, and the thread's next call takes the
# hold over. A program that goes off to other work instead (here: sleeps in nanosleep, which
# netcore does not see) must still have what the peer sends read, acknowledged and queued for
# it: the linger tick lets the hold go within LINGER_MS. The client, on netcore, asks a
# kernel-side server for a few short answers (the tick starts with the first hold), then for
# one more, after which the server sends 64 KiB and its FIN without being asked. The client
# sleeps 400 ms and then looks only with FIONREAD, which reads no device: every byte must be
# there, and then read back by content (sha256).
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
tail = os.urandom(65536)
open(sys.argv[3], "w").write(hashlib.sha256(tail).hexdigest())
c, _ = l.accept()
while True:
    q = c.recv(1)
    if q == b"q":        # a short answer
        c.sendall(b"a")
    elif q == b"t":      # a short answer, then the tail unasked, once the client is away
        c.sendall(b"a")
        time.sleep(0.1)
        c.sendall(tail)
        c.close()
        break
PY

cat >"$work/client.py" <<'PY'
import fcntl, hashlib, socket, struct, sys, termios, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
for _ in range(20):
    s.sendall(b"q")
    assert s.recv(1) == b"a"
s.sendall(b"t")
assert s.recv(1) == b"a"
time.sleep(0.4)
n = struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0\0\0\0"))[0]
print("queued", n)
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
print("sha256", hashlib.sha256(data).hexdigest())
PY

nc_bg timeout 60 python3 "$work/server.py" "$NC_KERNEL_IP" 9211 "$work/sum"
nc_wait_listen 9211
# A spin long enough for the server's answer: the hold then lingers after every recv.
out=$(NETCORE_SPIN_US=2000 timeout 30 "$NC_SRC/netcore" run --ns "$NC_NS" -- \
    python3 "$work/client.py" "$NC_KERNEL_IP" 9211 2>&1) || fail "client failed: $out"
queued=$(sed -n 's/^queued //p' <<<"$out")
[ "$queued" = 65536 ] ||
    fail "after 400 ms away the client had $queued of 65536 bytes queued (the device left unread?): $out"
[ "$(sed -n 's/^sha256 //p' <<<"$out")" = "$(cat "$work/sum")" ] || fail "the tail's sha256 differs: $out"
echo "PASS: test_sem_linger (64 KiB read and queued while the program slept)"
