#!/bin/bash
# test_tap_kernel.sh — netcore against the kernel's TCP/IP stack over a real TAP device:
# corecat (tests/corecat.c, the core API with no preload shim) inside a fresh namespace talks
# to kernel-side socat. (a) 32 MiB echoed by a kernel server, (b) 32 MiB from a kernel client
# to a netcore listener, (c) ARP and ICMP echo answered by the stack, (d) a refused connect,
# (e) start-up failures: a bad NETCORE_MTU, and TUNSETIFF refused to a non-root user,
# (f) UDP datagrams to a kernel echo and ICMP port unreachable as "Connection refused",
# (f2) ICMP net unreachable as ENETUNREACH for TCP, (g) a TUN device (IP packets, no ARP)
# carrying a TCP echo.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

# show FILE...: the files' contents on stderr, for a failure's context.
show() {
    local f
    for f in "$@"; do
        echo "--- $f" >&2
        cat "$f" >&2 || true
    done
}

# step NAME: report the time the previous step took, start timing NAME.
step_name=
step_t0=
step() {
    local now
    now=$(date +%s.%N)
    [ -n "$step_name" ] && printf '%-34s %6.2f s\n' "$step_name" "$(echo "$now - $step_t0" | bc)"
    step_name=$1
    step_t0=$now
}

nc_require_root
command -v socat >/dev/null || nc_skip "needs socat"
command -v ping >/dev/null || nc_skip "needs ping (iputils-ping)"
CORECAT=$NC_TOP/tests/corecat
[ -x "$CORECAT" ] || { echo "ERROR: $CORECAT is not built (make check builds it)" >&2; exit 99; }
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

# corecat ARGS...: corecat on netcore inside the namespace, on its TAP. Only one stack at a
# time can hold the TAP, so every run ends before the next starts.
corecat() {
    ip netns exec "$NC_NS" timeout 60 env NETCORE_TAP="$NC_TAP" "$CORECAT" "$@"
}

# bg_corecat OUT ERR ARGS...: corecat in the background (NC_LAST_PID), stdin empty.
bg_corecat() {
    local out=$1 err=$2
    shift 2
    nc_bg timeout 60 env NETCORE_TAP="$NC_TAP" "$CORECAT" "$@" </dev/null >"$out" 2>"$err"
}

# listening ERRFILE PID: wait until corecat listen (PID) says on ERRFILE that it listens: its
# stack has the TAP open and a listener (invisible to ss: no kernel socket).
listening() {
    nc_wait_line "$1" "^corecat: listening on 0\.0\.0\.0:" "$2"
}

# kernel_send FILE PORT: a kernel client in the namespace sends FILE to corecat, listening at
# NC_NETCORE_IP:PORT, and closes.
kernel_send() {
    ip netns exec "$NC_NS" timeout 60 socat -u "FILE:$1" "TCP:$NC_NETCORE_IP:$2" \
        2>"$tmp/send.err" || { show "$tmp/send.err"; fail "kernel client to $NC_NETCORE_IP:$2"; }
}

# wait_ok PID WHAT ERRFILE: PID exits 0, else fail showing ERRFILE.
wait_ok() {
    local rc=0
    wait "$1" || rc=$?
    [ "$rc" -eq 0 ] || { show "$3"; fail "$2 exited $rc"; }
}

head -c 32M /dev/urandom >"$tmp/in"
want=$(nc_sha "$tmp/in")

step "(a) 32 MiB echo, kernel server"
# -t 10: after corecat's FIN socat waits up to 10 s (not 0.5) for cat to flush the echo. No
# fork: the listener serves the one connection itself, so the cleanup's kill reaches it even
# when the transfer hangs.
nc_bg socat -t 10 "TCP-LISTEN:7,bind=$NC_KERNEL_IP,reuseaddr" EXEC:cat \
    >"$tmp/echo.log" 2>&1
nc_wait_listen 7 "$NC_KERNEL_IP"
rc=0
corecat connect "$NC_KERNEL_IP" 7 <"$tmp/in" >"$tmp/a.out" 2>"$tmp/a.err" || rc=$?
[ "$rc" -eq 0 ] || { show "$tmp/a.err" "$tmp/echo.log"; fail "(a) corecat connect exited $rc"; }
got=$(nc_sha "$tmp/a.out")
[ "$got" = "$want" ] ||
    fail "(a) echo differs: $(stat -c %s "$tmp/a.out") bytes back of 33554432, sha $got"

step "(b) 32 MiB kernel client -> listen"
bg_corecat "$tmp/b.out" "$tmp/b.err" listen 9000
pid=$NC_LAST_PID
listening "$tmp/b.err" "$pid"
kernel_send "$tmp/in" 9000
wait_ok "$pid" "(b) corecat listen" "$tmp/b.err"
got=$(nc_sha "$tmp/b.out")
[ "$got" = "$want" ] ||
    fail "(b) received data differs: $(stat -c %s "$tmp/b.out") bytes of 33554432, sha $got"

step "(c) ARP and ping"
bg_corecat "$tmp/c.out" "$tmp/c.err" listen 9001
pid=$NC_LAST_PID
# Once the stack is up, every ping comes back, the first after ARP.
listening "$tmp/c.err" "$pid"
out=$(ip netns exec "$NC_NS" ping -c 3 -W 2 -i 0.2 "$NC_NETCORE_IP" 2>&1) ||
    fail "(c) ping -c 3 $NC_NETCORE_IP: $out"
[[ $out == *" 3 received, 0% packet loss"* ]] || fail "(c) ping lost replies: $out"
out=$(ip -n "$NC_NS" neigh show "$NC_NETCORE_IP" dev "$NC_BRIDGE")
[[ $out == "$NC_NETCORE_IP lladdr 02:00:00:00:00:02 "* ]] ||
    fail "(c) neighbour entry for $NC_NETCORE_IP is '$out', want lladdr 02:00:00:00:00:02"
# End the listener the ordinary way: one empty connection, then corecat exits 0.
kernel_send /dev/null 9001
wait_ok "$pid" "(c) corecat listen" "$tmp/c.err"
[ ! -s "$tmp/c.out" ] || fail "(c) corecat printed data from an empty connection"

step "(d) connect refused"
rc=0
err=$(corecat connect "$NC_KERNEL_IP" 9 </dev/null 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "(d) corecat connect to port 9 exited $rc, want 1 ($err)"
[ "$err" = "corecat: connect $NC_KERNEL_IP:9: Connection refused" ] ||
    fail "(d) corecat connect to port 9 said '$err'"

step "(e) start-up errors"
rc=0
err=$(ip netns exec "$NC_NS" timeout 60 env NETCORE_TAP="$NC_TAP" NETCORE_MTU=abc \
    "$CORECAT" connect "$NC_KERNEL_IP" 7 </dev/null 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "(e) NETCORE_MTU=abc: exit $rc, want 1 ($err)"
[[ $err == "corecat: "*NETCORE_MTU* ]] || fail "(e) NETCORE_MTU=abc: message '$err'"
# A missing TAP: TUNSETIFF on a name that does not exist creates the TAP when the caller has
# CAP_NET_ADMIN, so this runs as nobody, for whom creating one is refused. (nobody could
# attach to the existing nctap0: a TAP made without an owner or group accepts anyone who can
# open /dev/net/tun.) /dev/net/tun may be mode 0600 (containers; most distributions make it
# 0666), which would stop nobody at open() before TUNSETIFF: the mount namespace that
# ip netns exec makes gets its own 0666 node on a tmpfs over /dev/net. corecat runs from a
# copy in NC_USER_DIR, which user nobody can read wherever the tree lives.
nc_user_dir
copy=$NC_USER_DIR/corecat
install -m 755 "$CORECAT" "$copy"
# A TAP owned by root: TUNSETIFF refuses any other user (one with no owner takes anyone).
ip -n "$NC_NS" tuntap add dev ncroot0 mode tap user 0 group 0 || fail "(e) ip tuntap add ncroot0"
rc=0
# shellcheck disable=SC2016
err=$(ip netns exec "$NC_NS" sh -c '
    mount -t tmpfs -o mode=755 nctun /dev/net && mknod -m 666 /dev/net/tun c 10 200 &&
    exec setpriv --reuid=65534 --regid=65534 --clear-groups \
        timeout 60 env NETCORE_TAP="$0" "$1" connect "$2" 7' \
    ncroot0 "$copy" "$NC_KERNEL_IP" </dev/null 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "(e) NETCORE_TAP=ncroot0 as nobody: exit $rc, want 1 ($err)"
[[ $err == "corecat: netcore_start: TUNSETIFF ncroot0: Operation not permitted"* ]] ||
    fail "(e) NETCORE_TAP=ncroot0 as nobody said '$err'," \
        "want TUNSETIFF ncroot0: Operation not permitted"
[[ $err == *"ip tuntap add dev ncroot0 mode tap user"* && $err == *"netcore up"* ]] ||
    fail "(e) NETCORE_TAP=ncroot0 as nobody does not say what to do: '$err'"
# A device that does not exist is named as missing, and nothing creates it.
rc=0
err=$(ip netns exec "$NC_NS" timeout 60 env NETCORE_TAP=nosuchtap "$CORECAT" connect \
    "$NC_KERNEL_IP" 7 </dev/null 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "(e) NETCORE_TAP=nosuchtap: exit $rc, want 1 ($err)"
[[ $err == *"TAP nosuchtap does not exist in this network namespace"*"netcore up"* ]] ||
    fail "(e) NETCORE_TAP=nosuchtap said '$err', want that it does not exist and what to do"
! ip -n "$NC_NS" link show dev nosuchtap >/dev/null 2>&1 ||
    fail "(e) starting on nosuchtap created it"

step "(f) UDP echo, port unreachable"
nc_bg socat "UDP-RECVFROM:5555,bind=$NC_KERNEL_IP,fork" EXEC:"tr a-z A-Z" >"$tmp/udp.log" 2>&1
nc_wait_udp 5555 "$NC_KERNEL_IP"
rc=0
out=$(printf 'hello\nworld\n' | corecat udp "$NC_KERNEL_IP" 5555 2>"$tmp/f.err") || rc=$?
[ "$rc" -eq 0 ] || { show "$tmp/f.err" "$tmp/udp.log"; fail "(f) corecat udp exited $rc"; }
[ "$out" = $'HELLO\nWORLD' ] || fail "(f) corecat udp got '$out', want HELLO, WORLD"
rc=0
err=$(echo x | corecat udp "$NC_KERNEL_IP" 5556 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "(f) corecat udp to a closed port exited $rc, want 1 ($err)"
[ "$err" = "corecat: recv $NC_KERNEL_IP:5556: Connection refused" ] ||
    fail "(f) corecat udp to a closed port said '$err'"

# (f2) TCP to a network the kernel side cannot route: its ICMP "net unreachable" fails the
# connect at once with ENETUNREACH, as the kernel's own connect would.
ip netns exec "$NC_NS" sysctl -qw net.ipv4.ip_forward=1
rc=0
err=$(corecat connect 198.18.77.5 80 </dev/null 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "(f2) connect to an unroutable network exited $rc, want 1 ($err)"
[ "$err" = "corecat: connect 198.18.77.5:80: Network is unreachable" ] ||
    fail "(f2) connect to an unroutable network said '$err'"
step ""

# (g) TUN: the IP medium without ARP. A TUN device nctun0 beside the TAP, on its own subnet
# 198.18.0.64/26 (kernel .65, netcore .66), carries 4 MiB echoed by a kernel server.
step "(g) TUN device"
ip -n "$NC_NS" tuntap add dev nctun0 mode tun || fail "(g) ip tuntap add dev nctun0 mode tun"
ip -n "$NC_NS" addr add 198.18.0.65/26 dev nctun0 || fail "(g) ip addr add on nctun0"
ip -n "$NC_NS" link set nctun0 up || fail "(g) ip link set nctun0 up"
head -c 4M /dev/urandom >"$tmp/tun.in"
nc_bg socat -t 10 TCP-LISTEN:7,bind=198.18.0.65,reuseaddr EXEC:cat >"$tmp/tun.log" 2>&1
nc_wait_listen 7 198.18.0.65
rc=0
ip netns exec "$NC_NS" timeout 60 env NETCORE_DEVICE=tun NETCORE_TAP=nctun0 \
    NETCORE_IP=198.18.0.66/26 NETCORE_GW=198.18.0.65 "$NC_TOP/tests/corecat" connect \
    198.18.0.65 7 <"$tmp/tun.in" >"$tmp/tun.out" 2>"$tmp/tun.err" || rc=$?
[ "$rc" -eq 0 ] || { show "$tmp/tun.err" "$tmp/tun.log"; fail "(g) corecat over TUN exited $rc"; }
[ "$(nc_sha "$tmp/tun.out")" = "$(nc_sha "$tmp/tun.in")" ] ||
    fail "(g) 4 MiB over TUN came back different ($(stat -c %s "$tmp/tun.out") bytes)"
step ""

echo "PASS: test_tap_kernel"
