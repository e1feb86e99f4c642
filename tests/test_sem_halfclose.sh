#!/bin/bash
# test_sem_halfclose.sh — shutdown(SHUT_WR) half-close (tests/sem_halfclose.c), run once on the
# kernel stack and once on netcore.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

PORT=7601
# Echo until EOF, then say how many bytes came before it, and close.
PEER='
import contextlib, socket, sys, threading
def serve(c):
    with c, contextlib.suppress(OSError):
        total = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            total += len(b)
            c.sendall(b)
        c.sendall(b"EOF %d\n" % total)
s = socket.create_server((sys.argv[1], int(sys.argv[2])), backlog=64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'

nc_require_root
nc_ns_setup
prog=$NC_TOP/tests/sem_halfclose
[ -x "$prog" ] || { echo "ERROR: $prog not built" >&2; exit 99; }
nc_bg python3 -c "$PEER" "$NC_KERNEL_IP" "$PORT"
nc_wait_listen "$PORT" "$NC_KERNEL_IP"

rc=0
echo "# kernel"
ip netns exec "$NC_NS" timeout 60 "$prog" "$NC_KERNEL_IP" "$PORT" ||
    { echo "FAIL: sem_halfclose on the kernel stack" >&2; rc=1; }
echo "# netcore"
nc_run timeout 60 "$prog" "$NC_KERNEL_IP" "$PORT" ||
    { echo "FAIL: sem_halfclose on netcore" >&2; rc=1; }
[ "$rc" -eq 0 ] && echo "PASS: test_sem_halfclose"
exit "$rc"
