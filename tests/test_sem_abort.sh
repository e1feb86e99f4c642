#!/bin/bash
# test_sem_abort.sh — the program's SIGABRT handler runs when it aborts inside a socket call
# (sem_abort.c: a SIGSEGV handler calling abort() in recv's copy, under the ring's lock on
# netcore), on the kernel stack and on netcore, against a kernel-side echo server.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer echo 7703
nc_both sem_abort "$NC_KERNEL_IP" 7703
