#!/bin/bash
# test_shim_privdrop.sh — a server started as root that drops its privileges before its first
# socket (tests/lib/privdrop.py: setuid to nobody, or capset clearing every capability) still
# listens on netcore: the stack starts before the drop (preload/privdrop.c), as a kernel
# socket opened beforehand would survive it. Before, the stack started at the first socket,
# after the drop, and could not open the TAP ("Permission denied"). A kernel-side client
# fetches 1 MiB from each; sha256 compared.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
head -c 1M /dev/urandom >"$tmp/data"
want=$(nc_sha "$tmp/data")

port=8091
for mode in setuid capset; do
    nc_bg_run python3 "$NC_SRC/tests/lib/privdrop.py" "$mode" "$tmp/data" "$NC_NETCORE_IP" \
        "$port" >"$tmp/$mode.out" 2>&1
    pid=$NC_LAST_PID
    nc_wait_line "$tmp/$mode.out" '^listening as uid ' "$pid"
    case $mode in
        setuid) [ "$NC_LINE" = "listening as uid 65534" ] ||
                    fail "setuid: '$NC_LINE', want the server running as nobody" ;;
        capset) grep -qx 'caps cleared' "$tmp/$mode.out" ||
                    fail "capset: the server kept capabilities: $(cat "$tmp/$mode.out")" ;;
    esac
    ip netns exec "$NC_NS" timeout 30 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
with open(sys.argv[3], "wb") as f:
    while True:
        b = s.recv(65536)
        if not b:
            break
        f.write(b)' "$NC_NETCORE_IP" "$port" "$tmp/$mode.got" ||
        fail "$mode: fetch failed: $(cat "$tmp/$mode.out")"
    got=$(nc_sha "$tmp/$mode.got")
    [ "$got" = "$want" ] || fail "$mode: sha256 $got, want $want"
    wait "$pid" || fail "$mode: the server exited $?: $(cat "$tmp/$mode.out")"
    echo "ok: $mode: dropped before its first socket, served 1 MiB on netcore, sha256 ok"
    port=$((port + 1))
done
echo "PASS: test_shim_privdrop"
