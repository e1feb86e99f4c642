#!/bin/bash
# test_sem_eintr.sh — blocking calls interrupted by SIGALRM, with and without SA_RESTART
# (sem_eintr.c), on the kernel stack and on netcore. The peer answers "hello" 1 s after a D.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer hello 7301
nc_both sem_eintr "$NC_KERNEL_IP" 7301
