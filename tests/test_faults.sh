#!/bin/bash
# test_faults.sh — transfers through an impaired link arrive byte-identical. The issue asks for
# netem on the TAP's kernel side; this kernel has no sch_netem, so tests/impair.c stands in for
# it: a relay between netcore's TAP and a second TAP that holds the kernel peers' address
# (nc_impair_setup), impairing frames each way like netem. With all five impairments at once
# (5% loss, 10 ms ± 5 ms delay, 10% reordering, 2% duplication, 1% corruption), 32 MiB go down
# (kernel HTTP server → curl on netcore) and 32 MiB up (socat on netcore → kernel socat); then
# each impairment alone with 8 MiB each way. At netcore's 65000-byte MTU 32 MiB is only ~520
# frames, so all five again at a 1500-byte MTU, where 2 MiB down and 1 MiB up are ~2000 and
# ~800 frames of data. The relay's counters show the impairments happened to the data. The draws are seeded, and the n-th frame's fate each way depends only
# on the seed: with seed 4 each impairment of each spec below first hits within 64 frames
# either way, and a transfer of 8 MiB is at least 130 frames of data, so the checks cannot
# flake (a 1% impairment can otherwise miss 130 frames a quarter of the time).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
# The first part is sized for 65000-byte frames (netcore up's default before TAP offloads);
# the 1500-byte part below runs with offloads on, the relay cutting netcore's super-segments
# into frames of the MTU as the kernel would before a real link (tests/impair.c).
export NETCORE_TAP_MTU=65000
nc_ns_setup
nc_impair_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
head -c 32M /dev/urandom >"$tmp/32M"
for size in 8M 2M 1M; do
    head -c "$size" "$tmp/32M" >"$tmp/$size"
done
nc_bg python3 -m http.server 8000 --bind "$NC_KERNEL_IP" --directory "$tmp" \
    >"$tmp/http.log" 2>&1
nc_wait_listen 8000 "$NC_KERNEL_IP"

# The counter each impairment of a spec must have moved, in the direction the data goes.
declare -A counter=([loss]=lost [delay]=delayed [reorder]=reordered [dup]=duplicated
    [corrupt]=corrupted)
port=7500
seed=4

elapsed() {
    awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# check_counters DIR SPEC WHAT: every impairment named in SPEC happened at least once to the
# frames going DIR.
check_counters() {
    local dir=$1 spec=$2 what=$3 kv n
    for kv in ${spec//,/ }; do
        [ -n "${counter[${kv%%=*}]:-}" ] || continue
        n=$(nc_impair_count "$dir" "${counter[${kv%%=*}]}")
        [ "${n:-0}" -gt 0 ] || fail "$what: no frame ${counter[${kv%%=*}]} going $dir"
    done
}

# down SIZE SPEC: curl on netcore fetches SIZE from the kernel through the relay.
down() {
    local size=$1 spec=$2 t0 rc=0
    nc_impair_start -s "$seed" -b "$spec"
    t0=$(date +%s.%N)
    on_netcore 150 curl -sS -o "$tmp/down" "http://$NC_KERNEL_IP:8000/$size" || rc=$?
    echo "# $size down, $spec: $(elapsed "$t0") s"
    nc_impair_stop
    [ "$rc" -eq 0 ] || fail "$size down with $spec: curl exited $rc"
    [ "$(nc_sha "$tmp/down")" = "$(nc_sha "$tmp/$size")" ] ||
        fail "$size down with $spec: $(stat -c %s "$tmp/down") bytes, different"
    check_counters down "$spec" "$size down"
}

# up SIZE SPEC: socat on netcore sends SIZE to a kernel socat through the relay.
up() {
    local size=$1 spec=$2 t0 rc=0 sink
    port=$((port + 1))
    rm -f "$tmp/up"
    nc_bg timeout 150 socat -u "TCP-LISTEN:$port,bind=$NC_KERNEL_IP,reuseaddr" \
        "CREATE:$tmp/up" >"$tmp/sink.log" 2>&1
    sink=$NC_LAST_PID
    nc_wait_listen "$port" "$NC_KERNEL_IP"
    nc_impair_start -s "$seed" -b "$spec"
    t0=$(date +%s.%N)
    # The stack lives in the program: give its exit time to deliver the tail over the link.
    NETCORE_LINGER=60 on_netcore 150 socat -u "FILE:$tmp/$size" "TCP:$NC_KERNEL_IP:$port" ||
        rc=$?
    wait "$sink" || rc=$((rc ? rc : 100 + $?))
    echo "# $size up, $spec: $(elapsed "$t0") s"
    nc_impair_stop
    [ "$rc" -eq 0 ] || fail "$size up with $spec: exit $rc $(cat "$tmp/sink.log")"
    [ "$(nc_sha "$tmp/up")" = "$(nc_sha "$tmp/$size")" ] ||
        fail "$size up with $spec: $(stat -c %s "$tmp/up") bytes, different"
    check_counters up "$spec" "$size up"
}

all=loss=5,delay=10,jitter=5,reorder=10,dup=2,corrupt=1
down 32M "$all"
echo "ok: 32 MiB down with every impairment, identical"
up 32M "$all"
echo "ok: 32 MiB up with every impairment, identical"
for spec in loss=5 delay=10,jitter=5 delay=10,reorder=10 dup=2 corrupt=1; do
    down 8M "$spec"
    up 8M "$spec"
    echo "ok: 8 MiB each way with $spec, identical"
done
nc_impair_mtu 1500
down 2M "$all"
up 1M "$all"
echo "ok: at MTU 1500, 2 MiB down and 1 MiB up with every impairment, identical"
echo "PASS: test_faults"
