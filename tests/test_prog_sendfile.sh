#!/bin/bash
# test_prog_sendfile.sh — a file server on netcore that sends with sendfile64 (the name that
# programs built with _FILE_OFFSET_BITS=64 link to: issue 13, where it went to the kernel with
# an eventfd and failed with EINVAL) serves a 24 MiB file to curl on the kernel side, twice;
# the sha256 of each copy equals the file's and curl reports netcore's address as the peer.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

PORT=8021
SERVER=$NC_TOP/tests/sendfile_server

nc_require_root
command -v curl >/dev/null || nc_skip "curl not installed"
[ -x "$SERVER" ] || { echo "ERROR: $SERVER not built" >&2; exit 99; }
# The point of the test: the binary calls sendfile64, not sendfile.
nm -D "$SERVER" | grep -qE ' U sendfile64(@|$)' ||
    fail "$SERVER does not link sendfile64: $(nm -D "$SERVER" | grep sendfile)"
echo "sendfile_server links: $(nm -D "$SERVER" | grep -oE 'sendfile64[^ ]*')"
nc_ns_setup

tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
head -c 24M /dev/urandom >"$tmp/file.bin"
want=$(nc_sha "$tmp/file.bin")

nc_bg_run "$SERVER" "$PORT" "$tmp/file.bin" >"$tmp/server.log" 2>&1
end=$((SECONDS + 10))
until grep -q "^listening $PORT" "$tmp/server.log"; do
    ((SECONDS < end)) && kill -0 "$NC_LAST_PID" 2>/dev/null ||
        fail "server did not start: $(cat "$tmp/server.log")"
    sleep 0.05
done

for i in 1 2; do
    rc=0
    peer=$(ip netns exec "$NC_NS" curl -sS --max-time 50 -o "$tmp/got$i.bin" \
        -w '%{remote_ip}' "http://$NC_NETCORE_IP:$PORT/file.bin") || rc=$?
    [ "$rc" -eq 0 ] || fail "curl $i: exit $rc; server: $(cat "$tmp/server.log")"
    [ "$peer" = "$NC_NETCORE_IP" ] || fail "curl $i: peer $peer, want $NC_NETCORE_IP"
    got=$(nc_sha "$tmp/got$i.bin")
    [ "$got" = "$want" ] ||
        fail "copy $i: sha256 $got ($(stat -c %s "$tmp/got$i.bin") bytes), want $want"
    echo "copy $i: 24 MiB from $peer, sha256 ok ($got)"
done
! grep -q sendfile64 "$tmp/server.log" || fail "server: $(cat "$tmp/server.log")"
echo "PASS: test_prog_sendfile"
