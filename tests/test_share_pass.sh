#!/bin/bash
# test_share_pass.sh — netcore sockets handed between processes on one shared stack (issue
# 14), with tests/lib/passing.py: a listener passed across exec as fd 3 with LISTEN_FDS=1
# (socket activation) serves two kernel-side clients; an accepted connection sent with
# SCM_RIGHTS from a parent to the child it forked, the parent closing its copy, is echoed by
# the child; a connected socket sent with SCM_RIGHTS between two unrelated netcore processes
# through a named AF_UNIX socket is used by the receiver; a child started by os.posix_spawn
# echoes through an inherited connected socket, which then still works in the parent. Every
# transfer checked by content (SHA-256).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
PASSING=$NC_SRC/tests/lib/passing.py
nc_peer echo 7710

# blast PORT CLIENTS LOG: CLIENTS kernel-side clients echo 256 KiB each through a server on
# netcore (LOG: the server's output, shown on failure).
blast() {
    local rc=0
    ip netns exec "$NC_NS" timeout 40 python3 "$NC_SRC/tests/lib/blast.py" \
        "$NC_NETCORE_IP" "$1" "$2" 262144 >"$tmp/blast.out" 2>&1 || rc=$?
    cat "$tmp/blast.out"
    [ "$rc" -eq 0 ] || { cat "$3" >&2; fail "clients of port $1: exit $rc"; }
}

# finish PID LOG: wait (at most 30 s) for a program started by nc_bg_run to exit, and fail
# unless it exits 0.
finish() {
    local rc=0
    timeout 30 tail --pid="$1" -s 0.1 -f /dev/null ||
        fail "pid $1 did not finish within 30 s: $(cat "$2")"
    wait "$1" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$2" >&2; fail "pid $1 exited $rc"; }
}

# 1. Socket activation: the launcher listens, execs the server with the listener on fd 3.
nc_bg_run python3 "$PASSING" activate "$NC_NETCORE_IP" 7701 2 >"$tmp/activate.log" 2>&1
act=$NC_LAST_PID
nc_wait_line "$tmp/activate.log" "^served: fd 3 is a listener on $NC_NETCORE_IP 7701" "$act"
blast 7701 2 "$tmp/activate.log"
finish "$act" "$tmp/activate.log"
cat "$tmp/activate.log"
[ "$(grep -c "^served: connection . from $NC_KERNEL_IP, 262144 bytes echoed" "$tmp/activate.log")" -eq 2 ] ||
    fail "the exec'd server did not echo 2 connections"
echo "ok: a listener passed across exec with LISTEN_FDS=1 served 2 connections"

# 2. SCM_RIGHTS from a parent to its forked child: an accepted connection.
nc_bg_run python3 "$PASSING" forkpass "$NC_NETCORE_IP" 7702 >"$tmp/forkpass.log" 2>&1
fp=$NC_LAST_PID
nc_wait_line "$tmp/forkpass.log" "^parent: listening on $NC_NETCORE_IP 7702" "$fp"
blast 7702 1 "$tmp/forkpass.log"
finish "$fp" "$tmp/forkpass.log"
cat "$tmp/forkpass.log"
grep -q "^child: received b'conn' and a socket from $NC_KERNEL_IP" "$tmp/forkpass.log" ||
    fail "the child did not see the received socket's peer as $NC_KERNEL_IP"
echo "ok: a connection sent to a forked child with SCM_RIGHTS, echoed by the child"

# 3. SCM_RIGHTS between unrelated processes, both on netcore, through a named AF_UNIX socket.
nc_bg_run python3 "$PASSING" recvnamed "$tmp/pass.sock" >"$tmp/recv.log" 2>&1
rcv=$NC_LAST_PID
nc_wait_line "$tmp/recv.log" "^receiver: waiting on " "$rcv"
on_netcore 30 python3 "$PASSING" sendnamed "$tmp/pass.sock" "$NC_KERNEL_IP" 7710 \
    >"$tmp/send.log" 2>&1 || { cat "$tmp/send.log" "$tmp/recv.log" >&2; fail "sendnamed failed"; }
finish "$rcv" "$tmp/recv.log"
cat "$tmp/send.log" "$tmp/recv.log"
grep -q "^receiver: 262144 bytes echoed byte-identical through $NC_NETCORE_IP -> $NC_KERNEL_IP:7710" \
    "$tmp/recv.log" || fail "the receiver's echo through the received socket is missing"
echo "ok: a socket sent between unrelated processes with SCM_RIGHTS, used by the receiver"

# 4. posix_spawn with an inherited connected socket.
on_netcore 40 python3 "$PASSING" spawn "$NC_KERNEL_IP" 7710 >"$tmp/spawn.log" 2>&1 ||
    { cat "$tmp/spawn.log" >&2; fail "spawn failed"; }
cat "$tmp/spawn.log"
grep -q "^spawned: 262144 bytes echoed byte-identical through $NC_NETCORE_IP -> $NC_KERNEL_IP:7710" \
    "$tmp/spawn.log" || fail "the spawned child's echo is missing"
[ "$(grep -c '^parent: 4096 bytes echoed byte-identical' "$tmp/spawn.log")" -eq 2 ] ||
    fail "the parent's connection did not work before and after the spawned child"
echo "ok: a child of posix_spawn echoed through its inherited socket"
# 5. A program that has not used netcore and passes itself a socketpair end (as dbus,
# systemd and Wayland clients do) with no stack running: the received fd is not taken for a
# relayed socket, and no stack starts for it (the TAP stays free).
out=$(NETCORE_LOG=info on_netcore 20 python3 -c '
import socket
a, b = socket.socketpair()
c, d = socket.socketpair()
socket.send_fds(a, [b"x"], [c.fileno()])
msg, fds, _, _ = socket.recv_fds(b, 1, 1)
e = socket.socket(fileno=fds[0])
d.send(b"ping")
print("plain", e.family == socket.AF_UNIX, e.recv(4))' 2>&1) || fail "socketpair passing: $out"
grep -q "^plain True b.ping.\$" <<<"$out" || fail "a passed socketpair end: $out"
! grep -q "stack up\|attached to the stack" <<<"$out" ||
    fail "receiving a socketpair end started or attached a stack: $out"
echo "ok: a socketpair end passed with SCM_RIGHTS stays a plain AF_UNIX socket; no stack"
echo "PASS: test_share_pass"
