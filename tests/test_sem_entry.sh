#!/bin/bash
# test_sem_entry.sh — syscall() by number, the fstat family, splice, sendfile from a socket,
# preadv2 and epoll_pwait2 (sem_entry.c), on the kernel stack and on netcore, against a
# kernel-side TCP echo server and UDP echo peer; the UDP peer's log proves the netcore run's
# datagrams (sent with syscall(SYS_sendmmsg)) came from netcore's address.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
log=$(mktemp)
nc_at_exit "rm -f '$log'"
nc_peer echo 7811
nc_bg python3 "$NC_SRC/tests/lib/udpecho.py" "$NC_KERNEL_IP" 7812 "$log"
nc_wait_udp 7812 "$NC_KERNEL_IP"
nc_both sem_entry "$NC_KERNEL_IP" 7811 7812
# Three datagrams from each run: the kernel's from the kernel side's own address, netcore's
# from NC_NETCORE_IP.
n=$(grep -c "^$NC_NETCORE_IP " "$log" || true)
[ "$n" -eq 3 ] || { cat "$log" >&2; fail "UDP peer saw $n datagrams from $NC_NETCORE_IP, want 3"; }
echo "UDP peer: 3 datagrams from $NC_NETCORE_IP (syscall(SYS_sendmmsg) on netcore)"
