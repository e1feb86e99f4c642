#!/bin/bash
# test_prog_profile.sh — each NETCORE_PROFILE (and NETCORE_SPIN_OWN both ways) carries real
# traffic on netcore: connections opened and closed in a loop (bench/connrate's client
# against its kernel-side server: the handshakes and FINs whose answers a program thread takes
# itself, devwatch.c) and 8 MiB each way, byte-identical. With the device held by a spinning
# call, a frame nobody takes would stall a transfer until its time limit. A bad profile is
# refused with a message naming NETCORE_PROFILE.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"
# shellcheck source-path=SCRIPTDIR source=lib/verdict.sh
. "$(dirname "$0")/lib/verdict.sh"

nc_require_root
command -v socat >/dev/null || nc_skip "socat not installed"
connrate=$NC_TOP/bench/connrate
[ -x "$connrate" ] || nc_skip "bench/connrate not built"
nc_ns_setup

tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
head -c 8M /dev/urandom >"$tmp/src.bin"
want=$(nc_sha "$tmp/src.bin")

# One socat transfer on the next port under environment $1 (named $2): the kernel side
# listens with its file address $3, socat on netcore connects with its file address $4
# (FILE: sends, CREATE: receives). Both ends must finish.
transfer() {
    local env=$1 what=$2 kfile=$3 nfile=$4 vars kpid rc=0
    read -ra vars <<<"$env"
    port=$((port + 1))
    local listen="TCP-LISTEN:$port,bind=$NC_KERNEL_IP,reuseaddr" conn="TCP:$NC_KERNEL_IP:$port"
    if [[ $kfile == CREATE:* ]]; then
        nc_bg timeout 20 socat -u "$listen" "$kfile"
    else
        nc_bg timeout 20 socat -u "$kfile" "$listen"
    fi
    kpid=$NC_LAST_PID
    nc_wait_listen "$port" "$NC_KERNEL_IP"
    if [[ $nfile == CREATE:* ]]; then
        env "${vars[@]}" timeout 20 "$NC_SRC/netcore" run --ns "$NC_NS" -- \
            socat -u "$conn" "$nfile" || rc=$?
    else
        env "${vars[@]}" timeout 20 "$NC_SRC/netcore" run --ns "$NC_NS" -- \
            socat -u "$nfile" "$conn" || rc=$?
    fi
    status "$rc" "$env: $what: socat on netcore"
    wait_pid "$kpid" "$env: $what: kernel-side socat"
}

nc_bg timeout 120 "$connrate" server 9101 >/dev/null 2>&1
nc_wait_listen 9101
port=9110
for env in NETCORE_PROFILE=latency NETCORE_PROFILE=balanced NETCORE_PROFILE=throughput \
           NETCORE_SPIN_OWN=0 "NETCORE_SPIN_OWN=1 NETCORE_SPIN_US=0"; do
    read -ra vars <<<"$env"
    # 1. connect, a byte each way, close: for a second.
    rc=0
    out=$(env "${vars[@]}" timeout 20 "$NC_SRC/netcore" run --ns "$NC_NS" -- \
        "$connrate" client "$NC_KERNEL_IP" 9101 1 2>&1) || rc=$?
    status "$rc" "$env: connrate client"
    n=$(sed -n 's/.* connections=\([0-9]*\) .*/\1/p' <<<"$out")
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then
        echo "$env: $n connections in 1 s"
    else
        flunk "$env: no connection made: $out"
    fi
    # 2. 8 MiB from netcore to the kernel, then from the kernel to netcore.
    transfer "$env" "netcore -> kernel" "CREATE:$tmp/up.bin" "FILE:$tmp/src.bin"
    same "$tmp/up.bin" "$want" "$env: netcore -> kernel"
    transfer "$env" "kernel -> netcore" "FILE:$tmp/src.bin" "CREATE:$tmp/down.bin"
    same "$tmp/down.bin" "$want" "$env: kernel -> netcore"
    rm -f "$tmp/up.bin" "$tmp/down.bin"
done

# 3. A bad profile: the message names the variable, and socket() fails.
rc=0
NETCORE_PROFILE=fast nc_run "$connrate" client "$NC_KERNEL_IP" 9101 1 >"$tmp/out" 2>"$tmp/err" ||
    rc=$?
[ "$rc" -ne 0 ] || flunk "NETCORE_PROFILE=fast: the client ran anyway"
grep -q 'NETCORE_PROFILE="fast"' "$tmp/err" ||
    flunk "NETCORE_PROFILE=fast: the message does not name it: $(cat "$tmp/err")"
echo "NETCORE_PROFILE=fast: $(grep -m1 NETCORE_PROFILE "$tmp/err")"

checked
echo "PASS: test_prog_profile"
