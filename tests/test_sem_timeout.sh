#!/bin/bash
# test_sem_timeout.sh — SO_RCVTIMEO, SO_SNDTIMEO and wait timeouts (sem_timeout.c), on the
# kernel stack and on netcore: one peer reads and never sends, one never reads.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer discard 7201
nc_peer hold 7202
nc_both sem_timeout "$NC_KERNEL_IP" 7201 7202
