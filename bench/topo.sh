# bench/topo.sh — the networks `netcore bench` measures on; sourced by bench/run.sh.
# shellcheck shell=bash disable=SC2034 # its variables are read by run.sh and workloads.sh
#
# Each topology has a netcore side (the client under `netcore run` on a TAP that `netcore up`
# made, its peers on the kernel stack) and a kernel side (the same client with no shim, in a
# namespace of its own) whose path has the same shape and MTU, so that the ratio compares
# stacks, not networks. One topology exists at a time: topo_up makes it, topo_down removes it
# (the run's trap removes every name in ALL_NS whatever happened).
#
#   sandbox  netcore's home ground: the TAP at MTU 65000 with the peer on the TAP's link, so
#            frames (and, with the SYN MSS rewrite, segments) are ~64 KB. Kernel: a veth pair
#            at 1500 between two namespaces, as before this file existed (the kernel moves
#            64 KB GSO/GRO super-segments over a veth whatever its MTU).
#   direct   the same link at MTU 1500, as a TAP bridged to an Ethernet NIC would have: the
#            peer still on the TAP's link, no router. Kernel: a veth pair at 1500.
#   routed   a real path: the client one router hop from its server, every link at 1500. The
#            router is the namespace `netcore up` made (the TAP's kernel side, 198.18.0.1 on
#            its bridge, is the netcore client's gateway) with ip_forward on and two more
#            veths: one to the server's namespace, one to the kernel client's. Both clients
#            cross the same router to the same server over the same server link; only their
#            first hop differs (TAP and bridge for netcore, a veth for the kernel).
#
# Addresses: 198.18.0.0/24 is the TAP link of every topology (netcore 198.18.0.2, the kernel
# side 198.18.0.1: `netcore up` and netcore's defaults). 198.18.1.0/24 is cut into four /26s,
# one per veth link, so that no two links of one run share a subnet (namespaces ncb-PID-...):
#   198.18.1.0/26    sandbox baseline   peer .1 (k1), client .2 (k2); netcore in tap
#   198.18.1.64/26   direct baseline    peer .65 (dk1), client .66 (dk2); netcore in dtap
#   198.18.1.128/26  routed, server     router .129 (rt), server .130 (rsrv)
#   198.18.1.192/26  routed, kernel cl. router .193 (rt), client .194 (rcli)

TOPOLOGIES="sandbox direct routed"
# Namespace names carry the run's pid, ncb-PID-NAME: a run removes only what it made, so two
# runs (several engineers share a machine) never take down each other's networks, and a run
# killed before its trap leaves names that the next run recognises as stale (stale_namespaces).
NSP=ncb-$$
ALL_NS="$NSP-tap $NSP-k1 $NSP-k2 $NSP-dtap $NSP-dk1 $NSP-dk2 $NSP-rt $NSP-rsrv $NSP-rcli"
NETCORE_SIDE_IP=198.18.0.2   # the netcore client's address (and the nginx server's)
TAP_KERNEL_IP=198.18.0.1     # the TAP's kernel side: peer (sandbox, direct) or router (routed)

# What topo_up sets, read by the workloads (bench/workloads.sh):
TOPO=           # the topology that is up
TOPO_MTU=       # the TAP's MTU
TOPO_DESC=      # one line for the progress output
NC_NS=          # namespace the netcore client runs in (`netcore run --ns`): the TAP's
NC_PEER_NS=     # namespace and address of the netcore client's peers
NC_PEER_IP=
K_NS=           # namespace of the kernel client
K_PEER_NS=      # namespace and address of the kernel client's peers
K_PEER_IP=
NC_ENV=()       # NAME=VALUE settings for the netcore client

# ns_new NS: a fresh namespace with its loopback up.
ns_new() {
    ip netns add "$1" && ip -n "$1" link set lo up
}

# veth_link NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B MTU: a veth pair DEV_A (in NS_A) - DEV_B (in
# NS_B), both ends at MTU, addressed (ADDR/PREFIX) and up.
veth_link() {
    ip link add "$2" netns "$1" mtu "$7" type veth peer name "$5" netns "$4" mtu "$7" &&
    ip -n "$1" addr add "$3" dev "$2" && ip -n "$4" addr add "$6" dev "$5" &&
    ip -n "$1" link set "$2" up && ip -n "$4" link set "$5" up
}

# tap_up NS MTU: `netcore up` in NS with the TAP (and its bridge) at MTU. The MTU is set here
# for every topology, never left to `netcore up`'s default, which changes between versions.
tap_up() {
    NETCORE_TAP_MTU=$2 "$NETCORE" up --ns "$1" >"$WORK/up-$1.log" 2>&1 ||
        { cat "$WORK/up-$1.log" >&2; return 1; }
}

# topo_set TOPO: the TOPO_*, NC_* and K_* variables of TOPO (no side effects).
topo_set() {
    TOPO=$1
    NC_ENV=()
    case $1 in
        sandbox)
            TOPO_MTU=65000
            NC_NS=$NSP-tap NC_PEER_NS=$NSP-tap NC_PEER_IP=$TAP_KERNEL_IP
            K_NS=$NSP-k2 K_PEER_NS=$NSP-k1 K_PEER_IP=198.18.1.1
            TOPO_DESC="netcore on a TAP at MTU 65000 in $NSP-tap, the peer on its link;" ;;
        direct)
            TOPO_MTU=1500
            NC_NS=$NSP-dtap NC_PEER_NS=$NSP-dtap NC_PEER_IP=$TAP_KERNEL_IP
            K_NS=$NSP-dk2 K_PEER_NS=$NSP-dk1 K_PEER_IP=198.18.1.65
            TOPO_DESC="netcore on a TAP at MTU 1500 in $NSP-dtap, the peer on its link;" ;;
        routed)
            TOPO_MTU=1500
            NC_NS=$NSP-rt NC_PEER_NS=$NSP-rsrv NC_PEER_IP=198.18.1.130
            K_NS=$NSP-rcli K_PEER_NS=$NSP-rsrv K_PEER_IP=198.18.1.130
            # The gateway is netcore's default already; said here so that the route does not
            # hang on a default.
            NC_ENV=("NETCORE_GW=$TAP_KERNEL_IP")
            TOPO_DESC="netcore on a TAP at MTU 1500, router $NSP-rt, server $NSP-rsrv;" ;;
        *) return 1 ;;
    esac
    if [ "$1" = routed ]; then
        TOPO_DESC+=" kernel client $NSP-rcli through the same router, all links 1500"
    else
        TOPO_DESC+=" kernel over a veth pair at 1500 ($K_NS -> $K_PEER_NS)"
    fi
}

# topo_up TOPO: make TOPO's namespaces and links; 1 (with a message) when any step fails.
topo_up() {
    topo_set "$1" || { echo "bench: unknown topology $1" >&2; return 1; }
    case $1 in
        sandbox)
            tap_up "$NSP-tap" 65000 && ns_new "$NSP-k1" && ns_new "$NSP-k2" &&
            veth_link "$NSP-k1" ncbv1 198.18.1.1/26 "$NSP-k2" ncbv2 198.18.1.2/26 1500 ;;
        direct)
            tap_up "$NSP-dtap" 1500 && ns_new "$NSP-dk1" && ns_new "$NSP-dk2" &&
            veth_link "$NSP-dk1" ncbdv1 198.18.1.65/26 "$NSP-dk2" ncbdv2 198.18.1.66/26 1500 ;;
        routed)
            tap_up "$NSP-rt" 1500 && ns_new "$NSP-rsrv" && ns_new "$NSP-rcli" &&
            ip netns exec "$NSP-rt" sysctl -qw net.ipv4.ip_forward=1 &&
            veth_link "$NSP-rt" ncbrs0 198.18.1.129/26 "$NSP-rsrv" ncbrs1 198.18.1.130/26 1500 &&
            veth_link "$NSP-rt" ncbrc0 198.18.1.193/26 "$NSP-rcli" ncbrc1 198.18.1.194/26 1500 &&
            # The server answers both clients through the router; the kernel client reaches
            # the server through it.
            ip -n "$NSP-rsrv" route add default via 198.18.1.129 &&
            ip -n "$NSP-rcli" route add default via 198.18.1.193 ;;
    esac || { echo "bench: cannot set up topology $1" >&2; return 1; }
}

# topo_namespaces TOPO: the namespaces TOPO makes.
topo_namespaces() {
    case $1 in
        sandbox) echo "$NSP-tap" "$NSP-k1" "$NSP-k2" ;;
        direct) echo "$NSP-dtap" "$NSP-dk1" "$NSP-dk2" ;;
        routed) echo "$NSP-rt" "$NSP-rsrv" "$NSP-rcli" ;;
    esac
}

# topo_down TOPO: remove TOPO's namespaces (their veths and TAPs go with them).
topo_down() {
    local ns
    for ns in $(topo_namespaces "$1"); do
        ip netns del "$ns" 2>/dev/null
    done
    return 0
}

# stale_namespaces: namespaces of earlier runs (ncb-PID-*) whose run is gone and which hold no
# process: left by a run killed before its trap could remove them.
stale_namespaces() {
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
        [[ $ns =~ ^ncb-([0-9]+)- ]] || continue
        pid=${BASH_REMATCH[1]}
        [ "$pid" != $$ ] || continue
        kill -0 "$pid" 2>/dev/null && continue
        [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && echo "$ns"
    done
    return 0
}
