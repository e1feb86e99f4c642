#!/bin/bash
# test_share_leave.sh — the process driving the shared stack leaves while another process
# uses the stack, with sockets of its own still open (a listener and a connection): by
# os._exit (no exit handlers) and by exit. It must be gone at once (handing the stack to a
# keeper must not wait on its own sockets: the keeper's fork once deadlocked on the stack
# lock), and the other process's server, attached to the stack, must keep serving (content
# checked). A driver killed outright is test_share_driver.sh's.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
head -c 300000 /dev/urandom >"$tmp/data"
want=$(nc_sha "$tmp/data")
port=8110
for how in _exit exit; do
    port=$((port + 2))
    mkfifo "$tmp/in-$how"
    # The driver: the first process on the stack. Its stdin stays open until we write.
    NETCORE_LOG=info nc_bg_run bash -c 'exec python3 "$@" <"$0"' "$tmp/in-$how" \
        "$NC_SRC/tests/lib/leaving.py" "$NC_NETCORE_IP" "$port" "$how" >"$tmp/driver-$how.log" 2>&1
    driver=$NC_LAST_PID
    exec 7>"$tmp/in-$how"
    nc_wait_line "$tmp/driver-$how.log" '^driver: listening' "$driver"
    # The other process, attached to the driver's stack: a file server on the next port.
    nc_bg_run socat \
        "TCP-LISTEN:$((port + 1)),bind=$NC_NETCORE_IP,reuseaddr,fork" "OPEN:$tmp/data,rdonly" \
        >"$tmp/server-$how.log" 2>&1
    server=$NC_LAST_PID
    # The driver's stack says so (the listen is done there, for the attached process).
    nc_wait_line "$tmp/driver-$how.log" "listening on $NC_NETCORE_IP:$((port + 1))\$" "$server"
    echo go >&7
    exec 7>&-
    timeout 10 tail --pid="$driver" -f /dev/null ||
        fail "the driver did not leave within 10 s after '$how' (a keeper handing over hung?)"
    rc=0
    wait "$driver" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$tmp/driver-$how.log" >&2; fail "the driver exited $rc"; }
    ip netns exec "$NC_NS" timeout 20 socat -u "TCP:$NC_NETCORE_IP:$((port + 1))" \
        "CREATE:$tmp/got-$how" || fail "the attached server is unreachable after the driver left by $how"
    [ "$(nc_sha "$tmp/got-$how")" = "$want" ] ||
        fail "the attached server sent $(stat -c %s "$tmp/got-$how") bytes, not the file"
    echo "ok: the driver left by $how at once; the attached server still serves the file"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
done
echo "PASS: test_share_leave"
