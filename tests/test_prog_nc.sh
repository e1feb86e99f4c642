#!/bin/bash
# test_prog_nc.sh — unmodified netcat-openbsd on netcore: as a client it sends 64 MiB to a
# kernel-side receiver and receives 64 MiB from a kernel-side sender; as a server (nc -l) it
# receives 64 MiB from a kernel-side client. Every copy is byte-identical (sha256).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"
# shellcheck source-path=SCRIPTDIR source=lib/verdict.sh
. "$(dirname "$0")/lib/verdict.sh"

nc_require_root
for p in nc socat; do
    command -v "$p" >/dev/null || nc_skip "$p not installed"
done
nc -h 2>&1 | grep -q OpenBSD || nc_skip "nc is not netcat-openbsd"
nc_ns_setup

tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
head -c 64M /dev/urandom >"$tmp/src.bin"
want=$(nc_sha "$tmp/src.bin")

# 1. nc on netcore sends to a kernel-side receiver; -N shuts down the write side at EOF.
nc_bg timeout 20 socat -u "TCP-LISTEN:9001,bind=$NC_KERNEL_IP,reuseaddr" \
    "CREATE:$tmp/recv1.bin"
recv=$NC_LAST_PID
nc_wait_listen 9001 "$NC_KERNEL_IP"
rc=0
on_netcore 20 nc -N -n "$NC_KERNEL_IP" 9001 <"$tmp/src.bin" || rc=$?
status "$rc" "nc -N on netcore (sender)"
wait_pid "$recv" "kernel-side socat receiver"
same "$tmp/recv1.bin" "$want" "netcore nc -> kernel"

# 2. nc on netcore receives from a kernel-side sender; -d: no stdin, exit at the peer's EOF.
nc_bg timeout 20 socat -u "FILE:$tmp/src.bin" \
    "TCP-LISTEN:9002,bind=$NC_KERNEL_IP,reuseaddr"
send=$NC_LAST_PID
nc_wait_listen 9002 "$NC_KERNEL_IP"
rc=0
on_netcore 20 nc -d -n "$NC_KERNEL_IP" 9002 >"$tmp/recv2.bin" || rc=$?
status "$rc" "nc -d on netcore (receiver)"
wait_pid "$send" "kernel-side socat sender"
same "$tmp/recv2.bin" "$want" "kernel -> netcore nc"

# 3. nc -l on netcore receives from a kernel-side client, which connects once nc -v says it
#    listens (netcore's listener is no kernel socket: ss cannot see it).
nc_bg_run timeout 20 nc -v -d -l -n "$NC_NETCORE_IP" 9003 >"$tmp/recv3.bin" 2>"$tmp/nc3.log"
server=$NC_LAST_PID
nc_wait_line "$tmp/nc3.log" "^Listening on $NC_NETCORE_IP 9003" "$server"
rc=0
ip netns exec "$NC_NS" timeout 20 nc -N -n "$NC_NETCORE_IP" 9003 <"$tmp/src.bin" || rc=$?
status "$rc" "kernel-side nc client to nc -l on netcore"
wait_pid "$server" "nc -l on netcore"
same "$tmp/recv3.bin" "$want" "kernel nc -> netcore nc -l"

checked
echo "PASS: test_prog_nc"
