#!/bin/bash
# test_conform.sh — errno conformance with the kernel (conform.c): each case runs on a kernel
# socket and on a netcore socket in one process under the shim, and must end the same way.
# The table of cases goes to the log; any DIFF (or a case whose setup failed) fails the test.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
# Earlier cases send to closed ports too: the kernel's ICMP rate limit would then swallow the
# port-unreachable that a connected UDP socket of netcore waits for (its own gets it over lo,
# which is never limited).
ip netns exec "$NC_NS" sysctl -qw net.ipv4.icmp_ratelimit=0
prog=$NC_TOP/tests/conform
[ -x "$prog" ] || { echo "ERROR: $prog not built" >&2; exit 99; }
# 198.18.0.99: on the TAP's subnet, owned by nobody (connects to it stay in progress); conform
# also uses the next address, .100. Rows where this kernel may answer either way print the
# answer it gave ("kernel behaviour seen: ...").
on_netcore 300 "$prog" "$NC_KERNEL_IP" "$NC_NETCORE_IP" 198.18.0.99
