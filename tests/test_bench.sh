#!/bin/bash
# test_bench.sh — the pieces of `netcore bench` that can be checked without measuring: its
# options, the median of rounds (bench/median.awk), the README's table (bench/mdtable.sh) and,
# as root, the three topologies of bench/topo.sh: each link's MTU, the router, and a client on
# netcore and a kernel client both reaching the routed server through it, each seen there by
# its own address. The measuring itself (bench/run.sh) is minutes long and bound to the
# machine: not run here.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

bench=$NC_SRC/bench

# 1. Options: a bad one is refused (exit 2) before anything is made, root or not.
for args in "--topology nowhere" "--topology" "--repeat 0" "--repeat 10" "--repeat x" \
            "--no-such-option"; do
    rc=0
    # shellcheck disable=SC2086 # the words of args are the arguments
    "$bench/run.sh" $args >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 2 ] || fail "bench/run.sh $args: exit $rc, expected 2"
done
help=$("$bench/run.sh" --help) || fail "bench/run.sh --help failed"
for opt in --quick --keep-logs --topology --repeat; do
    grep -q -- "$opt" <<<"$help" || fail "bench/run.sh --help does not name $opt"
done
echo "ok: options"

# 2. Medians: odd and even counts, a figure one round lacked, the first-seen order kept.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/raw.csv" <<'CSV'
round,topology,workload,stack,metric,value,unit
1,routed,tcp_bulk_up,netcore,throughput,10,Gbit/s
1,routed,tcp_bulk_up,kernel,throughput,5,Gbit/s
1,sandbox,tcp_connrate,netcore,rate,900,conn/s
2,routed,tcp_bulk_up,kernel,throughput,7.5,Gbit/s
2,routed,tcp_bulk_up,netcore,throughput,2,Gbit/s
3,routed,tcp_bulk_up,netcore,throughput,3.5,Gbit/s
CSV
want='topology,workload,stack,metric,value,unit
routed,tcp_bulk_up,netcore,throughput,3.5,Gbit/s
routed,tcp_bulk_up,kernel,throughput,6.25,Gbit/s
sandbox,tcp_connrate,netcore,rate,900,conn/s'
got=$(awk -f "$bench/median.awk" "$tmp/raw.csv")
[ "$got" = "$want" ] || fail "bench/median.awk gave:
$got
expected:
$want"
echo "ok: medians"

# 3. The Markdown table: a column per topology, netcore / kernel (ratio), no ratio for memory
#    held on one side only.
cat >"$tmp/res.csv" <<'CSV'
topology,workload,stack,metric,value,unit
sandbox,tcp_bulk_up,netcore,throughput,12.5,Gbit/s
sandbox,tcp_bulk_up,kernel,throughput,10,Gbit/s
routed,tcp_bulk_up,netcore,throughput,0.5,Gbit/s
routed,tcp_bulk_up,kernel,throughput,10,Gbit/s
routed,idle_conn_mem,kernel,user_per_conn,65,B
routed,idle_conn_mem,netcore,total_per_conn,9256,B
routed,idle_conn_mem,kernel,total_per_conn,3265,B
CSV
got=$("$bench/mdtable.sh" "$tmp/res.csv")
grep -qx '| workload | metric | sandbox: netcore / kernel (ratio) | routed: netcore / kernel (ratio) |' \
    <<<"$got" || fail "bench/mdtable.sh header: $got"
grep -qxF '| tcp_bulk_up | throughput (Gbit/s) | 12.5 / 10.0 (1.25) | 0.50 / 10.0 (0.05) |' \
    <<<"$got" || fail "bench/mdtable.sh bulk row: $got"
grep -qxF '| idle_conn_mem | total_per_conn (B) | – | 9256 / 3265 (2.83) |' <<<"$got" ||
    fail "bench/mdtable.sh memory row: $got"
! grep -q user_per_conn <<<"$got" || fail "bench/mdtable.sh shows user_per_conn: $got"
echo "ok: README table"

# 4. The topologies (root).
nc_require_root
NETCORE=$NC_SRC/netcore
WORK=$tmp
# shellcheck source-path=SCRIPTDIR source=../bench/topo.sh
. "$bench/topo.sh"
NETCORE_RUNDIR=$tmp/run
mkdir -m 700 "$NETCORE_RUNDIR"
export NETCORE_RUNDIR NETCORE_STAT=off
SERVER=
cleanup() {
    local rc=$? t
    set +e
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null
        wait "$SERVER" 2>/dev/null
    fi
    for t in $TOPOLOGIES; do
        topo_down "$t"
    done
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

mtu_of() {  # mtu_of NS DEV
    ip -n "$1" -o link show dev "$2" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'
}

for t in $TOPOLOGIES; do
    topo_up "$t" || fail "topo_up $t"
    [ "$(mtu_of "$NC_NS" nctap0)" = "$TOPO_MTU" ] ||
        fail "$t: TAP MTU $(mtu_of "$NC_NS" nctap0), expected $TOPO_MTU"
    if [ "$t" != routed ]; then
        dev=$(ip -n "$K_NS" -o link show type veth | awk -F': ' '{ print $2 }' | cut -d@ -f1)
        [ "$(mtu_of "$K_NS" "$dev")" = 1500 ] || fail "$t: kernel client's veth not at 1500"
        ip netns exec "$K_NS" ping -c 1 -W 5 "$K_PEER_IP" >/dev/null ||
            fail "$t: kernel client cannot reach its peer $K_PEER_IP"
        topo_down "$t"
        echo "ok: $t (TAP at $TOPO_MTU, veth at 1500)"
    fi
done

# routed (still up): the server accepts two connections and answers each with the address it
# came from; no NAT on the way, so the two clients' own addresses.
port=7101
ip netns exec "$NC_PEER_NS" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen()
for _ in range(2):
    c, a = s.accept()
    c.sendall(("from %s\n" % a[0]).encode())
    c.close()
' "$NC_PEER_IP" "$port" &
SERVER=$!
NC_NS_SAVED=$NC_NS
NC_NS=$NC_PEER_NS nc_wait_listen "$port" "$NC_PEER_IP"
NC_NS=$NC_NS_SAVED
client='import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
print(s.recv(100).decode().strip())'
got=$(env "${NC_ENV[@]}" timeout -k 5 30 "$NETCORE" run --ns "$NC_NS" -- \
    python3 -c "$client" "$NC_PEER_IP" "$port") || fail "routed: netcore client failed"
[ "$got" = "from $NETCORE_SIDE_IP" ] || fail "routed: netcore client: '$got'"
got=$(timeout -k 5 30 ip netns exec "$K_NS" python3 -c "$client" "$K_PEER_IP" "$port") ||
    fail "routed: kernel client failed"
[ "$got" = "from 198.18.1.194" ] || fail "routed: kernel client: '$got'"
[ "$(ip netns exec "$NC_NS" sysctl -n net.ipv4.ip_forward)" = 1 ] || fail "routed: no forwarding"
for dev in ncbrs0 ncbrc0; do
    [ "$(mtu_of "$NC_NS" "$dev")" = 1500 ] || fail "routed: $dev not at 1500"
done
wait "$SERVER" || fail "routed: the server failed"
SERVER=
topo_down routed
echo "ok: routed (TAP at 1500, router, both clients reach the server by their own addresses)"

for t in $TOPOLOGIES; do
    for ns in $(topo_namespaces "$t"); do
        ! ip netns list | grep -qw "^$ns" || fail "$ns left behind by topo_down"
    done
done
echo "PASS: test_bench"
