#!/bin/bash
# test_sem_sigpipe.sh — EPIPE and SIGPIPE after the peer closed, with and without
# MSG_NOSIGNAL (sem_sigpipe.c), on the kernel stack and on netcore.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer close 7501
nc_both sem_sigpipe "$NC_KERNEL_IP" 7501
