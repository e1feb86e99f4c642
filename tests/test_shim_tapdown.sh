#!/bin/bash
# test_shim_tapdown.sh — the TAP device is deleted under a program with an open connection:
# its calls fail with ENETDOWN (send, and connect afterwards), one line on stderr says why,
# and the stack does not spin on the dead device. Then, on a new TAP, it is deleted under a
# program with five connections and a thread blocked on each: two senders on a full window,
# two receivers, one in poll; every one of them wakes with ENETDOWN and the program goes on.
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
# Our own copies of the pipes: bash unsets PROG as soon as the program has exited.
exec {from}<&"${PROG[0]}" {to}>&"${PROG[1]}"
line=
read -r -t 20 line <&"$from" || true
[ "$line" = connected ] || fail "the program did not connect: '$line' $(cat "$tmp/err")"
ip -n "$NC_NS" link del "$NC_TAP"
echo go >&"$to"
cat <&"$from" >"$tmp/out"
exec {from}<&- {to}>&-
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

# Blocked calls: a new TAP (netcore up again), a peer that never reads nor writes.
"$NC_SRC/netcore" up --ns "$NC_NS" --tap "$NC_TAP" >/dev/null
nc_peer hold 7301
cat >"$tmp/blocked.py" <<'PY'
import errno, os, select, socket, sys, threading, time
res, sent = {}, [0, 0]

def err(e):
    return errno.errorcode.get(e.errno, str(e))

def sender(i, s):
    try:
        while True:
            sent[i] += s.send(b"x" * 65536)
    except OSError as e:
        res["sender%d" % i] = err(e)

def receiver(i, s):
    try:
        res["receiver%d" % i] = "recv %d bytes" % len(s.recv(100))
    except OSError as e:
        res["receiver%d" % i] = err(e)

def poller(s):
    p = select.poll()
    p.register(s, select.POLLIN)
    ev = p.poll(20000)
    try:
        s.recv(100)
        res["poll"] = "woke %s, then recv: no error" % ev
    except OSError as e:
        res["poll"] = err(e) if ev else "poll timed out"

conns = [socket.create_connection((sys.argv[1], 7301)) for _ in range(5)]
threads = {"sender%d" % i: threading.Thread(target=sender, args=(i, conns[i])) for i in (0, 1)}
threads.update({"receiver%d" % i: threading.Thread(target=receiver, args=(i, conns[2 + i]))
                for i in (0, 1)})
threads["poll"] = threading.Thread(target=poller, args=(conns[4],))
for t in threads.values():
    t.daemon = True
    t.start()
# The senders are blocked once their counts stop moving: the peer's window and ours are full.
last, end = None, time.monotonic() + 10
while time.monotonic() < end and sent != last:
    last = list(sent)
    time.sleep(0.3)
print("ready", sum(sent), flush=True)
sys.stdin.readline()                      # the test deletes the TAP, then says go
end = time.monotonic() + 10
for name, t in threads.items():
    t.join(max(0, end - time.monotonic()))
for name in sorted(threads):
    print("%s: %s" % (name, res.get(name, "still blocked 10 s on")))
PY
coproc PROG { timeout 30 "$NC_SRC/netcore" run --ns "$NC_NS" -- \
    python3 "$tmp/blocked.py" "$NC_KERNEL_IP" 2>"$tmp/err2"; }
pid=$PROG_PID
exec {from}<&"${PROG[0]}" {to}>&"${PROG[1]}"
line=
read -r -t 20 line <&"$from" || true
[[ $line == "ready "* ]] || fail "the blocked program did not start: '$line' $(cat "$tmp/err2")"
ip -n "$NC_NS" link del "$NC_TAP"
echo go >&"$to"
cat <&"$from" >"$tmp/out2"
exec {from}<&- {to}>&-
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the blocked program exited $rc: $(cat "$tmp/out2" "$tmp/err2")"
for t in poll receiver0 receiver1 sender0 sender1; do
    grep -qx "$t: ENETDOWN" "$tmp/out2" ||
        fail "blocked $t after the TAP went: $(tr '\n' ' ' <"$tmp/out2")"
done
echo "ok: ${line#ready } bytes sent, then $(tr '\n' ' ' <"$tmp/out2")"
echo "PASS: test_shim_tapdown"
