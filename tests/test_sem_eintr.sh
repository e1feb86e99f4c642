#!/bin/bash
# test_sem_eintr.sh — blocking calls interrupted by SIGALRM, with and without SA_RESTART
# (sem_eintr.c), on the kernel stack and on netcore, and on netcore again with a 1 s spin
# before sleeping (the signal comes while the call polls the device). The peer answers "hello"
# 1 s after a D.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer hello 7301
nc_both sem_eintr "$NC_KERNEL_IP" 7301
# A blocked call that polls the device before it sleeps (NETCORE_SPIN_US) sees the signal
# that came meanwhile: SIGALRM at 200 ms, inside a 1 s spin.
echo "# netcore, spinning 1 s before sleeping"
NETCORE_SPIN_US=1000000 on_netcore 30 "$NC_TOP/tests/sem_eintr" "$NC_KERNEL_IP" 7301 ||
    fail "sem_eintr on netcore with NETCORE_SPIN_US=1000000"
echo "PASS: sem_eintr with a long spin"
