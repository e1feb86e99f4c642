#!/bin/bash
# test_sem_sighandler.sh — a signal handler that sends on, opens and closes sockets while the
# thread it interrupts is inside socket calls (sem_sighandler.c), on the kernel stack and on
# netcore, against a kernel-side echo server.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer echo 7702
nc_both sem_sighandler "$NC_KERNEL_IP" 7702
