#!/bin/bash
# test_sem_mtsock.sh — two threads on one socket (sem_mtsock.c): a call never waits for
# another thread's blocking call, timeouts hold beside it, two pollers are both woken; on the
# kernel stack and on netcore. One peer never reads nor sends, one says hello when asked.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer hold 7801
nc_peer hello 7802
nc_both sem_mtsock "$NC_KERNEL_IP" 7801 7802
