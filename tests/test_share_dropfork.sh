#!/bin/bash
# test_share_dropfork.sh — a daemon that drops its privileges and then forks on a shared stack
# (issue 14, review item 2; memcached -u nobody -d does this). The program starts as root on
# netcore: its privilege drop starts the stack first and keeps a spare control connection
# (preload/privdrop.c, remote.c), and it drives the stack. It becomes uid 65534, forks, and the
# parent leaves at once with _exit (the stack goes to a keeper). The child can open no
# connection of its own (the run directory is root's, mode 0700), and its copies of the
# parent's are closed: it must have got one from the driver at the fork (NC_OP_CHANNEL). With
# it, the child
#  - keeps a thread blocked in a connect to an address nobody answers (198.18.0.200), while
#    its main thread still makes its calls: each thread has a channel of its own;
#  - listens on 198.18.0.2:7930 and serves a kernel-side client "hello";
#  - forks again: the grandchild echoes "ping" through a kernel-side echo peer (its spare came
#    from the child's at that fork).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
# The system's python: after the drop, nobody must be able to read its modules.
[ -x /usr/bin/python3 ] || nc_skip "/usr/bin/python3 missing (runs as nobody)"
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
nc_peer echo 7931

nc_user_dir
install -m 644 "$NC_SRC/tests/lib/shareclient.py" "$NC_USER_DIR/shareclient.py"
nc_bg_run /usr/bin/python3 "$NC_USER_DIR/shareclient.py" dropfork "$NC_NETCORE_IP" 7930 \
    "$NC_KERNEL_IP" 7931 198.18.0.200 >"$tmp/out" 2>&1
# The parent exits at once: its pid says nothing about the child's progress.
nc_wait_line "$tmp/out" '^(listening as uid|FAIL)'
[[ $NC_LINE == "listening as uid 65534" ]] ||
    { cat "$tmp/out" >&2; fail "the child after the drop and the fork: $NC_LINE"; }
echo "ok: the child (uid 65534) listens, with a thread blocked in a connect"
nc_wait_line "$tmp/out" '^(grandchild echo|FAIL)'
[[ $NC_LINE == "grandchild echo ok" ]] || { cat "$tmp/out" >&2; fail "grandchild: $NC_LINE"; }
echo "ok: the grandchild echoed through a kernel-side peer"

rc=0
got=$(ip netns exec "$NC_NS" timeout 10 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 7930), timeout=8)
print(s.recv(100).decode(), end="")' "$NC_NETCORE_IP") || rc=$?
[ "$rc" -eq 0 ] && [ "$got" = hello ] ||
    { cat "$tmp/out" >&2; fail "a kernel-side client of the child: exit $rc, got '$got'"; }
nc_wait_line "$tmp/out" '^(served|FAIL)'
[[ $NC_LINE == served ]] || { cat "$tmp/out" >&2; fail "the child: $NC_LINE"; }
cat "$tmp/out"
echo "ok: the child served a kernel-side client"
echo "PASS: test_share_dropfork"
