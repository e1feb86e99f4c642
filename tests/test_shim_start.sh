#!/bin/bash
# test_shim_start.sh — the shim starts the stack lazily: programs that never open an AF_INET
# socket run normally even without a TAP device; when the stack cannot start, socket() fails
# with an errno and one line naming the cause; a bad NETCORE_* value names the variable; an
# idle program blocked in poll on a netcore socket uses no CPU.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

# 1. No AF_INET socket, no TAP: ls and a pipeline run as usual, with nothing on stderr.
out=$(NETCORE_TAP=nosuchtap0 nc_run bash -c 'ls / | grep -c .' 2>"$tmp/err1")
[ "$out" -gt 3 ] || fail "ls | grep under the shim printed '$out'"
[ ! -s "$tmp/err1" ] || fail "stderr from a program without sockets: $(cat "$tmp/err1")"
echo "ok: ls and a pipeline run without a TAP device"

# 2. The stack cannot start (no such TAP, as an unprivileged user): socket() fails with an
#    errno and one line on stderr saying why and what to do. User nobody reads the script
#    and the library from NC_USER_DIR, wherever this tree is.
nc_user_dir
cat >"$NC_USER_DIR/sock.py" <<'PY'
import socket, errno
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    print("created")
except OSError as e:
    print("errno", errno.errorcode.get(e.errno, e.errno))
PY
set +e
got=$(NETCORE_TAP=nosuchtap0 nc_as_nobody 30 /usr/bin/python3 "$NC_USER_DIR/sock.py" \
      2>"$tmp/err2")
set -e
case $got in
    "errno "*) ;;
    *) fail "socket() without a stack: '$got', want an errno" ;;
esac
[ "$(wc -l <"$tmp/err2")" -eq 1 ] || fail "want one line on stderr, got: $(cat "$tmp/err2")"
grep -q "nosuchtap0" "$tmp/err2" || fail "the message does not name the device: $(cat "$tmp/err2")"
grep -q "netcore\[" "$tmp/err2" || fail "the message is not prefixed netcore[pid]"
echo "ok: socket() fails with $got and says: $(cat "$tmp/err2")"

# 3. A bad NETCORE_* value names the variable and the value.
set +e
NETCORE_MTU=abc nc_run python3 "$NC_USER_DIR/sock.py" >"$tmp/out3" 2>"$tmp/err3"
set -e
grep -q 'NETCORE_MTU="abc"' "$tmp/err3" || fail "bad NETCORE_MTU: $(cat "$tmp/err3")"
grep -q "errno" "$tmp/out3" || fail "socket() with a bad NETCORE_MTU: $(cat "$tmp/out3")"
echo "ok: $(cat "$tmp/err3")"

# 4. Idle: a client blocked in poll on a connected netcore socket uses no CPU for 2 s.
nc_bg python3 -c '
import socket, sys, time
s = socket.create_server((sys.argv[1], 7300))
c, _ = s.accept()
time.sleep(30)' "$NC_KERNEL_IP"
nc_wait_listen 7300 "$NC_KERNEL_IP"
cat >"$tmp/idle.py" <<'PY'
import os, select, socket, sys
s = socket.create_connection((sys.argv[1], 7300))
t0 = os.times()
select.poll().register(s, select.POLLIN)
p = select.poll(); p.register(s, select.POLLIN)
print("events", p.poll(2000))
t1 = os.times()
print("cpu_ms", int(((t1.user - t0.user) + (t1.system - t0.system)) * 1000))
PY
out=$(timeout 20 "$NC_SRC/netcore" run --ns "$NC_NS" -- python3 "$tmp/idle.py" "$NC_KERNEL_IP")
echo "$out" | grep -q "events \[\]" || fail "idle poll returned: $out"
cpu=$(echo "$out" | sed -n 's/^cpu_ms //p')
# os.times() counts every thread of the process, the netstack thread included; lwIP's
# timers wake it ten times a second, a few microseconds each.
[ "$cpu" -le 100 ] || fail "idle for 2 s used ${cpu} ms of CPU"
echo "ok: idle 2 s in poll used ${cpu} ms of CPU (all threads)"
echo "PASS: test_shim_start"
