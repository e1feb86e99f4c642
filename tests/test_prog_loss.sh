#!/bin/bash
# test_prog_loss.sh — transfers survive lost frames. netem is not in every kernel, so the
# loss is injected inside netcore (NETCORE_DROP_EVERY drops every Nth received frame: data
# on the way in, ACKs on the way out): 16 MiB down with curl and 16 MiB up with socat arrive
# byte-identical, through lwIP's retransmission and out-of-order queue with large windows.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
head -c 16M /dev/urandom >"$tmp/data"
want=$(nc_sha "$tmp/data")

# Down: kernel-side HTTP server, curl on netcore losing every 13th frame it receives.
nc_bg python3 -m http.server 8000 --bind "$NC_KERNEL_IP" --directory "$tmp" \
    >"$tmp/http.log" 2>&1
nc_wait_listen 8000 "$NC_KERNEL_IP"
NETCORE_DROP_EVERY=13 timeout 120 "$NC_SRC/netcore" run --ns "$NC_NS" -- \
    curl -sS -o "$tmp/down" "http://$NC_KERNEL_IP:8000/data" || fail "curl exited $?"
[ "$(nc_sha "$tmp/down")" = "$want" ] ||
    fail "16 MiB down with loss: $(stat -c %s "$tmp/down") bytes, different"
echo "ok: 16 MiB down, every 13th frame lost, identical"

# Up: socat on netcore sends the file, losing every 13th frame it receives (the ACKs).
nc_bg socat -u "TCP-LISTEN:7500,bind=$NC_KERNEL_IP,reuseaddr" "CREATE:$tmp/up" \
    >"$tmp/sink.log" 2>&1
sink=$NC_LAST_PID
nc_wait_listen 7500 "$NC_KERNEL_IP"
NETCORE_DROP_EVERY=13 timeout 120 "$NC_SRC/netcore" run --ns "$NC_NS" -- \
    socat -u "FILE:$tmp/data" "TCP:$NC_KERNEL_IP:7500" || fail "socat exited $?"
wait "$sink" || fail "the kernel-side receiver exited $?"
[ "$(nc_sha "$tmp/up")" = "$want" ] ||
    fail "16 MiB up with loss: $(stat -c %s "$tmp/up") bytes, different"
echo "ok: 16 MiB up, every 13th ACK lost, identical"
echo "PASS: test_prog_loss"
