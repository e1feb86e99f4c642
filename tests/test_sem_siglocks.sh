#!/bin/bash
# test_sem_siglocks.sh — signal handlers against the shim's own locks (sem_siglocks.c): a
# handler opening sockets during the stack's start, fork during another thread's sigaction;
# on the kernel stack and on netcore. A hang fails (nc_both's limit).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_both sem_siglocks
