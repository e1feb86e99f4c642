#!/bin/bash
# test_share_conntimeout.sh — a connect of an attached process that times out (no answer to
# its SYNs) fails with ETIMEDOUT, as the driver's own connect and the kernel's do. The driver
# replies -ETIMEDOUT to a waiting CONNECT; the client took that for its own wait running out
# (SO_SNDTIMEO) and said EINPROGRESS from a blocking connect, and a poll that waited for the
# outcome said "not yet" and lost it (SO_ERROR 0 after).
# The stack's SYNs give up after about 28 s, so tests/lib/fakedriver.py stands in for the
# driver: its sockets are the kernel's, and TCP_SYNCNT 1 (relayed by setsockopt) makes the
# connect time out in 3 s. 198.18.0.95 has a permanent neighbour entry that nobody owns:
# the SYNs go out and nothing answers, not even ARP (which would say EHOSTUNREACH). The same
# script runs on the kernel, whose answers are the reference:
#  - blocking: ETIMEDOUT;
#  - non-blocking, then poll for POLLOUT: writable, SO_ERROR ETIMEDOUT;
#  - blocking with SO_SNDTIMEO 1 s: EINPROGRESS after 1 s, then poll and SO_ERROR ETIMEDOUT.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
export NETCORE_STACK=shared
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
ip -n "$NC_NS" neigh replace 198.18.0.95 lladdr 02:00:00:00:00:95 dev "$NC_BRIDGE" nud permanent

cat >"$tmp/conntimeout.py" <<'PY'
import errno, select, socket, struct, time

ADDR = ("198.18.0.95", 80)


def name(e):
    return errno.errorcode.get(e, str(e))


def sock():
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
    return s


def outcome(s):
    """poll for POLLOUT (10 s), then SO_ERROR."""
    p = select.poll()
    p.register(s, select.POLLOUT)
    ev = p.poll(10000)
    return "%s %s" % ("ready" if ev else "not-ready",
                      name(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)))


def connect(s):
    t = time.monotonic()
    try:
        s.connect(ADDR)
        r = "connected"
    except OSError as e:
        r = name(e.errno)
    return r, time.monotonic() - t


s = sock()
r, dt = connect(s)
print("blocking:", r, "late" if dt > 10 else "")
s.close()

s = sock()
s.setblocking(False)
r, dt = connect(s)
print("non-blocking:", r, "then", outcome(s))
s.close()

s = sock()
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 1, 0))
r, dt = connect(s)
print("SO_SNDTIMEO 1 s:", r, "in %.0f s" % dt, "then", outcome(s))
s.close()
PY

kernel=$(ip netns exec "$NC_NS" python3 "$tmp/conntimeout.py" 2>&1) ||
    fail "the script on the kernel: $kernel"
echo "kernel:"$'\n'"$kernel"

nc_bg python3 "$NC_SRC/tests/lib/fakedriver.py" "$tmp/run" "$NC_TAP" >"$tmp/fake.log" 2>&1
nc_wait_line "$tmp/fake.log" '^ready$' "$NC_LAST_PID"
got=$(NETCORE_RUNDIR=$tmp/run NETCORE_LOG=info nc_run python3 "$tmp/conntimeout.py" \
    2>"$tmp/err") || fail "the script attached: $got: $(cat "$tmp/err")"
grep -q "attached to the stack of $NC_TAP" "$tmp/err" ||
    fail "the script did not attach to the fake driver: $(cat "$tmp/err")"
echo "attached:"$'\n'"$got"
[ "$got" = "$kernel" ] || fail "the attached process's answers differ from the kernel's"
echo "PASS: test_share_conntimeout"
