#!/bin/bash
# bench/loss.sh — a sender under packet loss at MTU 1500: netcore against the kernel through
# the same impair relay (tests/impair.c), the same seeds, the same receiver.
#
#   bench/loss.sh [-n SIZE] [-r REPEAT] [-d DELAY_MS] [-s SEED] [-m MODES] [LOSS%...]
#
# Defaults: 4M, 3 repeats, 5 ms each way (10 ms RTT), seed 1 (repeat i uses seed+i for every
# sender alike), modes "tso plain kernel", losses 0 1 5 (loss both ways: data and ACKs).
# Modes: tso    socat on netcore with TAP offloads (super-segments, cut by the relay)
#        plain  socat on netcore with NETCORE_OFFLOAD=off (one frame per segment)
#        kernel socat on the kernel stack of a namespace of its own, whose veth takes the place
#               of netcore's TAP in front of the relay (its address 198.18.0.3), with the
#               machine's congestion control (net.ipv4.tcp_congestion_control: bbr here)
#        cubic  the same kernel sender with CUBIC (TCP_CONGESTION), Linux's usual default: a
#               loss-based sender, as netcore's is
# The receiver is a kernel socat at NC_KERNEL_IP behind the relay. A transfer's time runs from
# the sender's start to the receiver's exit (it has every byte then: the size is checked), so
# data still in a kernel sender's buffer when it exits is counted. Prints one line per run
# and a median table (seconds, and each mode's ratio to the kernel's median, also "net":
# both less their mode's fixed cost, the median of three 1-byte transfers, which for netcore
# is mostly `netcore run` starting the program: ~0.2 s here against the kernel's ~0.04 s).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../tests/lib/netns.sh
. "$(dirname "$0")/../tests/lib/netns.sh"

size=4M repeat=3 delay=5 seed=1 modes="tso plain kernel"
while getopts "n:r:d:s:m:" o; do
    case $o in
    n) size=$OPTARG ;;
    r) repeat=$OPTARG ;;
    d) delay=$OPTARG ;;
    s) seed=$OPTARG ;;
    m) modes=$OPTARG ;;
    *) echo "usage: $0 [-n SIZE] [-r N] [-d MS] [-s SEED] [-m MODES] [LOSS...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
losses=${*:-0 1 5}

nc_require_root
command -v socat >/dev/null || nc_skip "needs socat"
export NETCORE_TAP_MTU=1500
nc_ns_setup
nc_impair_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
head -c "$size" /dev/urandom >"$tmp/data"
bytes=$(stat -c %s "$tmp/data")

# The kernel sender's namespace: a veth whose NC_NS end (no address, no ARP) the relay reads
# in place of netcore's TAP.
kns=nct-lossk-$$
kdev=nclossv0
ip netns add "$kns"
nc_at_exit "ip netns del '$kns' 2>/dev/null"
ip -n "$NC_NS" link add "$kdev" mtu 1500 type veth peer name nclossv1 netns "$kns" mtu 1500
ip -n "$NC_NS" link set "$kdev" arp off
ip netns exec "$NC_NS" sysctl -qw "net.ipv6.conf.$kdev.disable_ipv6=1"
ip -n "$NC_NS" link set "$kdev" up
ip -n "$kns" addr add 198.18.0.3/24 dev nclossv1
ip -n "$kns" link set lo up
ip -n "$kns" link set nclossv1 up

port=7600
# run MODE LOSS SEED: prints the seconds of one transfer
run() {
    local mode=$1 loss=$2 s=$3 t0 t1 sink rc=0 dev=$NC_TAP
    port=$((port + 1))
    rm -f "$tmp/out"
    nc_bg timeout 60 socat -u "TCP-LISTEN:$port,bind=$NC_KERNEL_IP,reuseaddr" \
        "CREATE:$tmp/out" >"$tmp/sink.log" 2>&1
    sink=$NC_LAST_PID
    nc_wait_listen "$port" "$NC_KERNEL_IP"
    case $mode in kernel | cubic) dev=$kdev ;; esac
    nc_bg "$NC_TOP/tests/impair" -t 600 -q 16384 -s "$s" -b "loss=$loss,delay=$delay" \
        "$dev" "$NC_PEER_TAP" >"$NC_IMPAIR_LOG" 2>&1
    NC_IMPAIR_PID=$NC_LAST_PID
    nc_wait_line "$NC_IMPAIR_LOG" '^impair: ready' "$NC_IMPAIR_PID"
    t0=$(date +%s.%N)
    case $mode in
    tso) on_netcore 60 socat -u "FILE:${data:-$tmp/data}" "TCP:$NC_KERNEL_IP:$port" || rc=$? ;;
    plain) NETCORE_OFFLOAD=off on_netcore 60 socat -u "FILE:${data:-$tmp/data}" \
        "TCP:$NC_KERNEL_IP:$port" || rc=$? ;;
    kernel) ip netns exec "$kns" timeout 60 socat -u "FILE:${data:-$tmp/data}" \
        "TCP:$NC_KERNEL_IP:$port" || rc=$? ;;
    cubic) ip netns exec "$kns" timeout 60 socat -u "FILE:${data:-$tmp/data}" \
        "TCP:$NC_KERNEL_IP:$port,setsockopt-string=6:13:cubic" || rc=$? ;;
    esac
    wait "$sink" || rc=$?
    t1=$(date +%s.%N)
    nc_impair_stop >"$tmp/impair.$mode.$loss.$s"
    # Losses the relay did not choose (its queue, its packet socket's buffer) would make
    # the run say nothing of the sender: shown with the run, to stderr.
    awk -v m="$mode" '/overflow=[1-9]|sockdrops=[1-9]/ { print "# " m ": " $0 }' \
        "$tmp/impair.$mode.$loss.$s" >&2
    [ "$rc" -eq 0 ] || fail "$mode, $loss% loss, seed $s: exit $rc"
    [ "$(stat -c %s "$tmp/out")" = "$bytes" ] || fail "$mode, $loss% loss: short transfer"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

echo "# $size up through impair, delay $delay ms each way, loss both ways; seeds $seed.."
# Each mode's fixed cost (starting the program, netcore's start-up, the handshake): the
# median of three 1-byte transfers without loss, taken off the times for the "net" ratios.
head -c 1 "$tmp/data" >"$tmp/one"
declare -A fixed
for mode in $modes; do
    ts=()
    for i in 1 2 3; do
        ts+=("$(data=$tmp/one bytes=1 run "$mode" 0 "$seed")")
    done
    fixed[$mode]=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n 2p)
    echo "# fixed cost $mode: ${fixed[$mode]} s"
done
for loss in $losses; do
    for ((i = 0; i < repeat; i++)); do
        for mode in $modes; do
            t=$(run "$mode" "$loss" $((seed + i)))
            printf '%s\t%s\t%s\t%s\n' "$mode" "$loss" $((seed + i)) "$t" | tee -a "$tmp/res"
        done
    done
done
echo "# median seconds (ratio to kernel's; net: both less their fixed cost)"
printf 'loss'
for mode in $modes; do printf '\t%s' "$mode"; done
echo
for loss in $losses; do
    printf '%s%%' "$loss"
    k=$(awk -v l="$loss" '$1 == "kernel" && $2 == l { print $4 }' "$tmp/res" | sort -n |
        awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
    for mode in $modes; do
        m=$(awk -v l="$loss" -v md="$mode" '$1 == md && $2 == l { print $4 }' "$tmp/res" |
            sort -n | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
        if [ -n "$k" ] && [ "$mode" != kernel ]; then
            printf '\t%s (%.1fx, net %.1fx)' "$m" "$(awk -v a="$m" -v b="$k" 'BEGIN { print a / b }')" \
                "$(awk -v a="$m" -v b="$k" -v fa="${fixed[$mode]}" -v fb="${fixed[kernel]:-0}" \
                    'BEGIN { d = b - fb; print (d > 0 ? (a - fa) / d : 0) }')"
        else
            printf '\t%s' "$m"
        fi
    done
    echo
done
