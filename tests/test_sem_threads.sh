#!/bin/bash
# test_sem_threads.sh — sockets used from several threads at once (sem_threads.c), on the
# kernel stack and on netcore, against a kernel-side echo server.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer echo 7701
nc_both sem_threads "$NC_KERNEL_IP" 7701
