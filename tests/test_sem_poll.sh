#!/bin/bash
# test_sem_poll.sh — poll/select/epoll readiness of a TCP socket beside a pipe (sem_poll.c),
# on the kernel stack and on netcore, against a kernel-side echo server.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer echo 7101
nc_both sem_poll "$NC_KERNEL_IP" 7101
