#!/bin/bash
# test_sem_timeout.sh — SO_RCVTIMEO, SO_SNDTIMEO and wait timeouts (tests/sem_timeout.c), run
# once on the kernel stack and once on netcore against the same kernel-side peers.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

QUIET=7201 # accepts, reads and discards, never sends
SINK=7202  # accepts, never reads
PEER='
import contextlib, socket, sys, threading
mode, held = sys.argv[3], []
def discard(c):
    with c, contextlib.suppress(OSError):
        while c.recv(65536):
            pass
s = socket.create_server((sys.argv[1], int(sys.argv[2])), backlog=64)
while True:
    c, _ = s.accept()
    if mode == "quiet":
        threading.Thread(target=discard, args=(c,), daemon=True).start()
    else:
        held.append(c)
'

nc_require_root
nc_ns_setup
prog=$NC_TOP/tests/sem_timeout
[ -x "$prog" ] || { echo "ERROR: $prog not built" >&2; exit 99; }
nc_bg python3 -c "$PEER" "$NC_KERNEL_IP" "$QUIET" quiet
nc_bg python3 -c "$PEER" "$NC_KERNEL_IP" "$SINK" sink
nc_wait_listen "$QUIET" "$NC_KERNEL_IP"
nc_wait_listen "$SINK" "$NC_KERNEL_IP"

rc=0
echo "# kernel"
ip netns exec "$NC_NS" timeout 60 "$prog" "$NC_KERNEL_IP" "$QUIET" "$SINK" ||
    { echo "FAIL: sem_timeout on the kernel stack" >&2; rc=1; }
echo "# netcore"
nc_run timeout 60 "$prog" "$NC_KERNEL_IP" "$QUIET" "$SINK" ||
    { echo "FAIL: sem_timeout on netcore" >&2; rc=1; }
[ "$rc" -eq 0 ] && echo "PASS: test_sem_timeout"
exit "$rc"
