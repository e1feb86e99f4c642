#!/bin/bash
# test_share_driver.sh — the process driving a shared stack, against the others (issue 14,
# core/share.h). A driver (an echo server on netcore, running as root) and:
#  - a process of another uid (nobody with CAP_DAC_OVERRIDE, so that it can reach the
#    rendezvous in the root-only run directory) is refused: the first reply says -EACCES, and
#    the driver logs the refusal; without the capability connect itself fails with EACCES;
#  - a client writing garbage to the rendezvous (tests/lib/rendezvous.py garbage: short and
#    empty messages, wrong magic, huge len, unknown ops, random bytes, a pipe's fd, two fds)
#    gets errors or a close, and afterwards the driver is alive and serves: kernel-side
#    clients echo through it, a netcore client transfers data;
#  - killed with SIGKILL while a forked child of a client is blocked in recv and an unrelated
#    process in accept: both calls fail with ECONNRESET or ENETDOWN within 1.5 s, measured on
#    CLOCK_MONOTONIC from the kill to the return (tests/lib/stuck.py).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
[ -x /usr/bin/python3 ] || nc_skip "/usr/bin/python3 missing (runs as nobody)"
nc_ns_setup
nc_user_dir
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
install -m 644 "$NC_SRC/tests/lib/rendezvous.py" "$NC_USER_DIR/rendezvous.py"
nc_peer echo 7910
nc_peer hold 7911

# The driver: the first process on the device.
NETCORE_LOG=info nc_bg_run python3 "$NC_SRC/tests/lib/echoserve.py" thread "$NC_NETCORE_IP" 7901 \
    >"$tmp/driver.log" 2>&1
driver=$NC_LAST_PID
nc_wait_line "$tmp/driver.log" "^listening on $NC_NETCORE_IP 7901 " "$driver"
sock=$(nc_stack_sock)
[ -S "$sock" ] || fail "no rendezvous socket in $NETCORE_RUNDIR: $(ls -la "$NETCORE_RUNDIR")"
[ "$(nc_stack_holders)" = "$driver" ] ||
    fail "the rendezvous lock is held by '$(nc_stack_holders | paste -sd ' ' -)', want the driver $driver"
[ "$(stat -c %a "$NETCORE_RUNDIR")" = 700 ] || fail "$NETCORE_RUNDIR is not mode 0700"
echo "driver $driver, rendezvous $sock"

# alive WHAT: the driver runs and serves, kernel-side clients and a netcore client.
alive() {
    local rc=0
    kill -0 "$driver" 2>/dev/null || { cat "$tmp/driver.log" >&2; fail "$1: the driver died"; }
    ip netns exec "$NC_NS" timeout 30 python3 "$NC_SRC/tests/lib/blast.py" "$NC_NETCORE_IP" 7901 \
        2 262144 >"$tmp/blast.out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || { cat "$tmp/blast.out" >&2; fail "$1: kernel-side clients of the driver: exit $rc"; }
    on_netcore 30 python3 "$NC_SRC/tests/lib/blast.py" "$NC_KERNEL_IP" 7910 2 262144 \
        >"$tmp/client.out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || { cat "$tmp/client.out" >&2; fail "$1: a netcore client: exit $rc"; }
    echo "ok: $1: the driver is alive and serves; a netcore client transfers data"
}
alive "start"

# 1. Another uid.
rc=0
ip netns exec "$NC_NS" timeout 20 setpriv --reuid 65534 --regid 65534 --clear-groups \
    --inh-caps +dac_override --ambient-caps +dac_override \
    /usr/bin/python3 "$NC_USER_DIR/rendezvous.py" refused "$sock" >"$tmp/uid.out" 2>&1 || rc=$?
cat "$tmp/uid.out"
[ "$rc" -eq 0 ] || fail "uid 65534 (with CAP_DAC_OVERRIDE) was not refused with -EACCES"
grep -Eiq 'refus|denied|EACCES|uid 65534' "$tmp/driver.log" ||
    { cat "$tmp/driver.log" >&2; fail "the driver did not log the refusal of uid 65534"; }
echo "ok: uid 65534 refused by the driver: $(grep -Ei -m1 'refus|denied|EACCES|uid 65534' "$tmp/driver.log")"
rc=0
ip netns exec "$NC_NS" timeout 20 setpriv --reuid 65534 --regid 65534 --clear-groups \
    /usr/bin/python3 "$NC_USER_DIR/rendezvous.py" noentry "$sock" >"$tmp/uid2.out" 2>&1 || rc=$?
cat "$tmp/uid2.out"
[ "$rc" -eq 0 ] || fail "uid 65534 without capabilities: want EACCES from connect"
echo "ok: uid 65534 without capabilities cannot reach the rendezvous (run directory 0700)"
alive "after the other uid"

# 2. Garbage on the rendezvous.
rc=0
timeout 60 python3 "$NC_SRC/tests/lib/rendezvous.py" garbage "$sock" >"$tmp/garbage.out" 2>&1 ||
    rc=$?
cat "$tmp/garbage.out"
[ "$rc" -eq 0 ] || { tail -n 20 "$tmp/driver.log" >&2; fail "garbage: exit $rc"; }
alive "after the garbage"

# 3. SIGKILL of the driver with a client blocked in recv and another in accept.
nc_bg_run python3 "$NC_SRC/tests/lib/stuck.py" recv "$NC_KERNEL_IP" 7911 >"$tmp/recv.log" 2>&1
recv_pid=$NC_LAST_PID
nc_bg_run python3 "$NC_SRC/tests/lib/stuck.py" accept "$NC_NETCORE_IP" 7902 >"$tmp/accept.log" 2>&1
accept_pid=$NC_LAST_PID
nc_wait_line "$tmp/recv.log" '^recv: blocking pid [0-9]+$' "$recv_pid"
recv_child=${NC_LINE##* }
nc_wait_line "$tmp/accept.log" '^accept: blocking pid [0-9]+$' "$accept_pid"
nc_wait_blocked "$recv_child" >/dev/null
nc_wait_blocked "$accept_pid" >/dev/null
t_kill=$(python3 -c 'import os, sys, time; t = time.monotonic(); os.kill(int(sys.argv[1]), 9)
print(f"{t:.6f}")' "$driver")
echo "driver $driver killed at $t_kill"
for p in "$recv_pid" "$accept_pid"; do
    timeout 10 tail --pid="$p" -s 0.1 -f /dev/null || true
done
rc=0
for w in recv accept; do
    cat "$tmp/$w.log"
    line=$(grep -E "^$w: [^ ]+ at [0-9.]+$" "$tmp/$w.log") ||
        fail "$w did not return within 10 s of the driver's death"
    t=${line##* }
    what=$(awk '{print $2}' <<<"$line")
    dt=$(awk -v a="$t" -v b="$t_kill" 'BEGIN { printf "%.3f", a - b }')
    echo "$w: $what $dt s after the kill"
    [[ $what == ECONNRESET || $what == ENETDOWN ]] || { echo "FAIL: $w: $what" >&2; rc=1; }
    awk -v d="$dt" 'BEGIN { exit !(d < 1.5) }' || { echo "FAIL: $w took $dt s" >&2; rc=1; }
done
[ "$rc" -eq 0 ] || fail "a client of the killed driver"
echo "ok: recv and accept failed within 1.5 s of the driver's SIGKILL"
echo "PASS: test_share_driver"
