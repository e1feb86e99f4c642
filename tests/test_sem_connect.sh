#!/bin/bash
# test_sem_connect.sh — blocking and non-blocking connect, SO_ERROR, connect again, refused
# (sem_connect.c), on the kernel stack and on netcore. Nothing listens on 7409: RST.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer echo 7401
nc_both sem_connect "$NC_KERNEL_IP" 7401 7409
