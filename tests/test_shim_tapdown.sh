#!/bin/bash
# test_shim_tapdown.sh — the TAP device is deleted under a program with an open connection:
# its calls fail with ENETDOWN (send, and connect afterwards), one line on stderr says why,
# and the stack does not spin on the dead device.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
nc_peer hold 7300
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
cat >"$tmp/down.py" <<'PY'
import errno, os, socket, sys
s = socket.create_connection((sys.argv[1], 7300))
print("connected", flush=True)
sys.stdin.readline()                      # the test deletes the TAP, then says go
t0 = os.times()
try:
    for i in range(1000):
        s.send(b"x" * 65536)
    print("send: no error")
except OSError as e:
    print("send:", errno.errorcode.get(e.errno))
try:
    socket.create_connection((sys.argv[1], 7300), timeout=5)
    print("connect: no error")
except OSError as e:
    print("connect:", errno.errorcode.get(e.errno, e))
t1 = os.times()
print("cpu_ms", int(((t1.user - t0.user) + (t1.system - t0.system)) * 1000))
PY
coproc PROG { timeout 30 "$NC_SRC/netcore" run --ns "$NC_NS" -- \
    python3 "$tmp/down.py" "$NC_KERNEL_IP" 2>"$tmp/err"; }
pid=$PROG_PID
line=
read -r -t 20 line <&"${PROG[0]}" || true
[ "$line" = connected ] || fail "the program did not connect: '$line' $(cat "$tmp/err")"
ip -n "$NC_NS" link del "$NC_TAP"
echo go >&"${PROG[1]}"
cat <&"${PROG[0]}" >"$tmp/out"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the program exited $rc: $(cat "$tmp/out" "$tmp/err")"
grep -qx "send: ENETDOWN" "$tmp/out" || fail "send after the TAP went: $(cat "$tmp/out")"
grep -qx "connect: ENETDOWN" "$tmp/out" || fail "connect after the TAP went: $(cat "$tmp/out")"
grep -q "netcore\[[0-9]*\]: device $NC_TAP: .*network down" "$tmp/err" ||
    fail "no line on stderr about the device: $(cat "$tmp/err")"
cpu=$(sed -n 's/^cpu_ms //p' "$tmp/out")
[ "$cpu" -le 500 ] || fail "the calls after the TAP went used ${cpu} ms of CPU"
echo "ok: $(tr '\n' ' ' <"$tmp/out")"
echo "PASS: test_shim_tapdown"
