#!/bin/bash
# test_share_neighfail.sh — a connect whose next hop never answers ARP or neighbour
# solicitation fails with EHOSTUNREACH in about 3 s, as the kernel's does (core/neigh.c), on
# the stack's driver and in a process attached to it; before, lwIP dropped the SYN behind the
# resolution and the connect said ETIMEDOUT after 19-28 s. 198.18.0.95 and 2001:db8::95 are
# on the link, nobody's. The same script runs on the kernel, whose answers are the reference:
# blocking connects (IPv4, IPv6) EHOSTUNREACH in under 5 s; a non-blocking one, then poll:
# writable, SO_ERROR EHOSTUNREACH; a refused one (a kernel-side port nobody listens on)
# still ECONNREFUSED at once.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

cat >"$tmp/neighfail.py" <<PY
import errno, select, socket, time


def name(e):
    return errno.errorcode.get(e, str(e))


for fam, addr in ((socket.AF_INET, ("198.18.0.95", 80)), (socket.AF_INET6, ("2001:db8::95", 80)),
                  (socket.AF_INET, ("$NC_KERNEL_IP", 7509))):
    s = socket.socket(fam)
    t = time.monotonic()
    try:
        s.connect(addr)
        r = "connected"
    except OSError as e:
        r = name(e.errno)
    print(addr[0], r, "in time" if time.monotonic() - t < 5 else "late")
    s.close()
s = socket.socket()
s.setblocking(False)
print("non-blocking:", name(s.connect_ex(("198.18.0.95", 80))), end=" ")
p = select.poll()
p.register(s, select.POLLOUT)
print("ready" if p.poll(10000) else "not-ready",
      name(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)))
PY

kernel=$(ip netns exec "$NC_NS" python3 "$tmp/neighfail.py" 2>&1) ||
    fail "the script on the kernel: $kernel"
echo "kernel:"$'\n'"$kernel"

# Alone on netcore: the script drives the stack.
got=$(NETCORE_STACK=own nc_run python3 "$tmp/neighfail.py" 2>"$tmp/own.err") ||
    fail "the script on netcore: $got: $(cat "$tmp/own.err")"
echo "netcore:"$'\n'"$got"
[ "$got" = "$kernel" ] || fail "netcore's answers differ from the kernel's"

# Attached to a driver's stack: the same answers relayed.
nc_bg_run python3 "$NC_SRC/tests/lib/shareclient.py" idle "$NC_NETCORE_IP" 7540 \
    >"$tmp/driver.log" 2>&1
driver=$NC_LAST_PID
nc_wait_line "$tmp/driver.log" '^idle up' "$driver"
got=$(NETCORE_STACK=shared NETCORE_LOG=info nc_run python3 "$tmp/neighfail.py" \
    2>"$tmp/att.err") || fail "the script attached: $got: $(cat "$tmp/att.err")"
grep -q "attached to the stack of $NC_TAP" "$tmp/att.err" ||
    fail "the script did not attach to the driver's stack: $(cat "$tmp/att.err")"
echo "attached:"$'\n'"$got"
[ "$got" = "$kernel" ] || fail "the attached process's answers differ from the kernel's"
echo "PASS: test_share_neighfail"
