#!/bin/bash
# test_sem_stdio.sh — stdio on a socket and fds closed inside libc (sem_stdio.c), on the
# kernel stack and on netcore, against a kernel-side echo server.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer echo 7801
nc_peer hold 7802
nc_both sem_stdio "$NC_KERNEL_IP" 7801 7802
