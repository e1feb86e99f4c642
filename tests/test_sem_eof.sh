#!/bin/bash
# test_sem_eof.sh — the peer's last bytes come before its EOF. bench/connrate's client on
# netcore against its kernel-side server: connect, a byte each way, and the server's byte and
# FIN arrive back to back while the client waits in read(). recv read the ring before the EOF
# mark, and a FIN marked between the two reads ended the call with the byte unread ("EOF
# before the server's byte"): about one 2-second run in four with the client's threads on one
# CPU. Runs with the client pinned to CPU 0 and the server to CPU 1, and unpinned; every run
# must end without an error (exit 3, out of ephemeral ports, is connrate's normal stop).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
connrate=$NC_TOP/bench/connrate
[ -x "$connrate" ] || nc_skip "bench/connrate not built"
nc_ns_setup
pin_c=() pin_s=()
if [ "$(nproc)" -ge 2 ]; then
    pin_c=(taskset -c 0) pin_s=(taskset -c 1)
fi

nc_bg timeout 120 "$connrate" server 9201 >/dev/null 2>&1
nc_bg timeout 120 ${pin_s[@]+"${pin_s[@]}"} "$connrate" server 9202 >/dev/null 2>&1
nc_wait_listen 9201
nc_wait_listen 9202

total=0
for round in 1 2 3 4; do
    for port in 9201 9202; do
        pin=()
        [ "$port" = 9202 ] && pin=(${pin_c[@]+"${pin_c[@]}"})
        rc=0
        out=$(timeout 30 ${pin[@]+"${pin[@]}"} "$NC_SRC/netcore" run --ns "$NC_NS" -- \
            "$connrate" client "$NC_KERNEL_IP" "$port" 2 2>&1) || rc=$?
        [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] ||
            fail "round $round, port $port${pin[*]:+ (pinned)}: connrate exit $rc: $out"
        n=$(sed -n 's/.* connections=\([0-9]*\) .*/\1/p' <<<"$out")
        [ -n "$n" ] && [ "$n" -gt 0 ] || fail "round $round, port $port: no connection: $out"
        total=$((total + n))
    done
done
echo "PASS: test_sem_eof ($total connections, each with its byte before the EOF)"
