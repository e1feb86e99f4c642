#!/bin/bash
# test_prog_uv.sh — a libuv UDP client (tests/uv_udp.c, Debian's libuv 1.44, which sends with
# syscall(SYS_sendmmsg) and, on a UV_UDP_RECVMMSG handle, receives with syscall(SYS_recvmmsg):
# issue 13, where every datagram reached the kernel and failed with ENOTSOCK) exchanges 200
# datagrams with a kernel-side UDP echo peer, on the kernel stack and on netcore; each echo is
# checked, and the peer's log shows the netcore run's 200 datagrams came from netcore's address.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

PORT=7821
N=200

nc_require_root
[ -x "$NC_TOP/tests/uv_udp" ] || nc_skip "tests/uv_udp not built (libuv1-dev not installed)"
nc_ns_setup
log=$(mktemp)
nc_at_exit "rm -f '$log'"
nc_bg python3 "$NC_SRC/tests/lib/udpecho.py" "$NC_KERNEL_IP" "$PORT" "$log"
nc_wait_udp "$PORT" "$NC_KERNEL_IP"
nc_both uv_udp "$NC_KERNEL_IP" "$PORT" "$N"
n=$(grep -c "^$NC_NETCORE_IP " "$log" || true)
[ "$n" -eq "$N" ] || fail "UDP peer saw $n datagrams from $NC_NETCORE_IP, want $N"
echo "UDP peer: $N datagrams from $NC_NETCORE_IP"
