#!/bin/bash
# test_ns_setup.sh — the network sandbox itself: nc_ns_setup and the helpers of
# tests/lib/netns.sh (NETCORE_RUNDIR and the rendezvous lock helpers among them); `netcore up` is idempotent, repairs a half-made namespace and refuses
# clearly without root or with a bad NETCORE_TAP_MTU; `netcore down` removes a namespace and is a no-op when there is none.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

# check_ns NS: NS has bridge NC_BRIDGE with the kernel-side addresses and a pool of TAP
# devices on it (NC_TAP first), all up, and lo is up.
check_ns() {
    local ns=$1 out tap n=0
    out=$(ip netns exec "$ns" ip -d link show dev "$NC_BRIDGE") || fail "$ns: no $NC_BRIDGE"
    [[ $out == *"bridge "* ]] || fail "$ns: $NC_BRIDGE is not a bridge: $out"
    out=$(ip netns exec "$ns" ip -4 -o addr show dev "$NC_BRIDGE")
    [[ $out == *"inet $NC_KERNEL_IP/24 "* ]] || fail "$ns: $NC_BRIDGE lacks $NC_KERNEL_IP/24: $out"
    if [ -e /proc/net/if_inet6 ]; then
        out=$(ip netns exec "$ns" ip -6 -o addr show dev "$NC_BRIDGE")
        [[ $out == *"inet6 $NC_KERNEL_IP6/64 "* ]] ||
            fail "$ns: $NC_BRIDGE lacks $NC_KERNEL_IP6/64: $out"
    fi
    for tap in "$NC_TAP" nctap1 nctap7; do
        out=$(ip netns exec "$ns" ip -d link show dev "$tap") || fail "$ns: no $tap"
        [[ $out == *"tun type tap"* ]] || fail "$ns: $tap is not a TAP device: $out"
        [[ $out == *"<"*UP*">"* ]] || fail "$ns: $tap is not up: $out"
        [[ $out == *" master $NC_BRIDGE "* ]] || fail "$ns: $tap is not on $NC_BRIDGE: $out"
        out=$(ip netns exec "$ns" ip -4 -o addr show dev "$tap")
        [ -z "$out" ] || fail "$ns: $tap has an address of its own: $out"
    done
    n=$(ip netns exec "$ns" ip -o link show master "$NC_BRIDGE" | grep -c 'nctap')
    [ "$n" -eq 8 ] || fail "$ns: $n TAP devices on $NC_BRIDGE, want the default pool of 8"
    out=$(ip netns exec "$ns" ip -o link show dev lo)
    [[ $out == *[\<,]UP[,\>]* ]] || fail "$ns: lo is not up: $out"
}

ns_listed() {
    local name
    while read -r name _; do
        [ "$name" = "$1" ] && return 0
    done < <(ip netns list)
    return 1
}

nc_require_root
nc_ns_setup
check_ns "$NC_NS"

# nc_bg + nc_wait_listen: a kernel-side server in the namespace, reached by a kernel client.
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
echo hello >"$tmp/index.html"
nc_bg python3 -m http.server 8000 --bind "$NC_KERNEL_IP" --directory "$tmp" \
    >"$tmp/server.log" 2>&1
nc_wait_listen 8000 "$NC_KERNEL_IP"
got=$(ip netns exec "$NC_NS" curl -sS --max-time 5 "http://$NC_KERNEL_IP:8000/index.html")
[ "$got" = hello ] || fail "kernel curl in $NC_NS got '$got'"
[ "$(nc_sha "$tmp/index.html")" = "$(printf 'hello\n' | sha256sum | cut -d' ' -f1)" ] ||
    fail "nc_sha"

# The shared stacks' run directory: the test's own, mode 0700; nc_stack_holders names the
# process holding a rendezvous lock, nc_stack_wait_free returns once it lets go.
[ "$(stat -c %a "$NETCORE_RUNDIR" 2>/dev/null)" = 700 ] ||
    fail "NETCORE_RUNDIR '$NETCORE_RUNDIR' is not a directory of mode 0700"
[ -z "$(nc_stack_lock)" ] || fail "a rendezvous lock before any stack: $(nc_stack_lock)"
lock=$NETCORE_RUNDIR/stack-$NC_TAP-1.lock
mkfifo "$tmp/go"
( exec 9>"$lock"; flock 9; echo held >"$tmp/held"; read -r _ <"$tmp/go" ) &
holder=$!
nc_wait_line "$tmp/held" '^held$' "$holder"
[ "$(nc_stack_lock)" = "$lock" ] || fail "nc_stack_lock: '$(nc_stack_lock)', want $lock"
[ "$(nc_stack_holders)" = "$holder" ] || fail "nc_stack_holders: '$(nc_stack_holders)', want $holder"
echo go >"$tmp/go"
nc_stack_wait_free 5
wait "$holder"
[ -z "$(nc_stack_holders)" ] || fail "nc_stack_holders after the holder's exit: $(nc_stack_holders)"
rm -f "$lock"

# netcore up: idempotent; netcore down: removes, then no-op.
x=nct-idem-$$
nc_at_exit "ip netns del '$x' 2>/dev/null || true"
"$NC_SRC/netcore" up --ns "$x" >/dev/null || fail "netcore up --ns $x"
"$NC_SRC/netcore" up --ns "$x" >/dev/null || fail "netcore up --ns $x (second time)"
check_ns "$x"
"$NC_SRC/netcore" down --ns "$x" >/dev/null || fail "netcore down --ns $x"
! ns_listed "$x" || fail "netcore down --ns $x left the namespace"
"$NC_SRC/netcore" down --ns "$x" >/dev/null || fail "netcore down --ns $x (none left)"

# netcore up repairs a half-made namespace: no TAP, then a TUN device under the TAP's name.
ip netns add "$x"
"$NC_SRC/netcore" up --ns "$x" >/dev/null || fail "netcore up --ns $x (bare namespace)"
check_ns "$x"
ip -n "$x" link del "$NC_TAP"
ip -n "$x" tuntap add dev "$NC_TAP" mode tun
"$NC_SRC/netcore" up --ns "$x" >/dev/null || fail "netcore up --ns $x (TUN in place of TAP)"
check_ns "$x"
"$NC_SRC/netcore" down --ns "$x" >/dev/null || fail "netcore down --ns $x"

# Without root, netcore up fails with a clear message. User nobody runs a copy in NC_USER_DIR,
# which it can read wherever the tree lives.
nc_user_dir
copy=$NC_USER_DIR/netcore
install -m 755 "$NC_SRC/netcore" "$copy"
rc=0
err=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$copy" up --ns "nct-nobody-$$" 2>&1) ||
    rc=$?
[ "$rc" -eq 1 ] || fail "netcore up as nobody: exit $rc, want 1 ($err)"
want="netcore up: must run as root (creates a network namespace and TAP devices)"
[ "$err" = "$want" ] || fail "netcore up as nobody said '$err', want '$want'"
! ns_listed "nct-nobody-$$" || fail "netcore up as nobody made a namespace"

# A bad NETCORE_TAP_MTU: one line naming it, and nothing made (ip's own error named no
# variable and left a half-built namespace; 100 was taken, IPv6 then off on the link).
for mtu in abc 100 1279 65522; do
    rc=0
    err=$(NETCORE_TAP_MTU=$mtu "$NC_SRC/netcore" up --ns "$x" 2>&1) || rc=$?
    [ "$rc" -eq 1 ] || fail "NETCORE_TAP_MTU=$mtu netcore up: exit $rc, want 1 ($err)"
    [[ $err == "netcore up: NETCORE_TAP_MTU=$mtu: "* ]] ||
        fail "NETCORE_TAP_MTU=$mtu netcore up said '$err', not naming the variable"
    ! ns_listed "$x" || fail "NETCORE_TAP_MTU=$mtu netcore up made namespace $x"
done

echo "PASS: test_ns_setup"
