#!/bin/bash
# test_sem_halfclose.sh — shutdown(SHUT_WR) while the echo keeps coming (sem_halfclose.c), on
# the kernel stack and on netcore; the peer echoes, then reports what came before the EOF.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer count 7601
nc_both sem_halfclose "$NC_KERNEL_IP" 7601
