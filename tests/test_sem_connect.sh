#!/bin/bash
# test_sem_connect.sh — non-blocking connect and refused connections (tests/sem_connect.c), run
# once on the kernel stack and once on netcore.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

PORT=7401   # echo server
CLOSED=7409 # nothing listens: the kernel answers SYN with RST
ECHO='
import contextlib, socket, sys, threading
def serve(c):
    with c, contextlib.suppress(OSError):
        while True:
            b = c.recv(65536)
            if not b:
                break
            c.sendall(b)
s = socket.create_server((sys.argv[1], int(sys.argv[2])), backlog=64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'

nc_require_root
nc_ns_setup
prog=$NC_TOP/tests/sem_connect
[ -x "$prog" ] || { echo "ERROR: $prog not built" >&2; exit 99; }
nc_bg python3 -c "$ECHO" "$NC_KERNEL_IP" "$PORT"
nc_wait_listen "$PORT" "$NC_KERNEL_IP"

rc=0
echo "# kernel"
ip netns exec "$NC_NS" timeout 60 "$prog" "$NC_KERNEL_IP" "$PORT" "$CLOSED" ||
    { echo "FAIL: sem_connect on the kernel stack" >&2; rc=1; }
echo "# netcore"
nc_run timeout 60 "$prog" "$NC_KERNEL_IP" "$PORT" "$CLOSED" ||
    { echo "FAIL: sem_connect on netcore" >&2; rc=1; }
[ "$rc" -eq 0 ] && echo "PASS: test_sem_connect"
exit "$rc"
