#!/bin/bash
# test_sem_sigpipe.sh — EPIPE and SIGPIPE after the peer closes (tests/sem_sigpipe.c), run once
# on the kernel stack and once on netcore.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

PORT=7501
# Accept and close at once: a FIN, then RST for anything the client sends.
PEER='
import socket, sys
s = socket.create_server((sys.argv[1], int(sys.argv[2])), backlog=64)
while True:
    c, _ = s.accept()
    c.close()
'

nc_require_root
nc_ns_setup
prog=$NC_TOP/tests/sem_sigpipe
[ -x "$prog" ] || { echo "ERROR: $prog not built" >&2; exit 99; }
nc_bg python3 -c "$PEER" "$NC_KERNEL_IP" "$PORT"
nc_wait_listen "$PORT" "$NC_KERNEL_IP"

rc=0
echo "# kernel"
ip netns exec "$NC_NS" timeout 60 "$prog" "$NC_KERNEL_IP" "$PORT" ||
    { echo "FAIL: sem_sigpipe on the kernel stack" >&2; rc=1; }
echo "# netcore"
nc_run timeout 60 "$prog" "$NC_KERNEL_IP" "$PORT" ||
    { echo "FAIL: sem_sigpipe on netcore" >&2; rc=1; }
[ "$rc" -eq 0 ] && echo "PASS: test_sem_sigpipe"
exit "$rc"
