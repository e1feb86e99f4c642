#!/bin/bash
# test_prog_socat.sh — unmodified socat on netcore. TCP: as a client and as a TCP-LISTEN
# server, each connection carrying 8 MiB each way at once (two different files), and `socat -u`
# sending 8 MiB and exiting at its input's EOF; all byte-identical (sha256). UDP: ten 100-byte
# datagrams to a kernel-side UDP echo server arrive as ten separate datagrams from 198.18.0.2,
# and the ten replies come back intact. Every part runs; the test fails at the end if any did.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"
# shellcheck source-path=SCRIPTDIR source=lib/verdict.sh
. "$(dirname "$0")/lib/verdict.sh"

nc_require_root
for p in socat python3; do
    command -v "$p" >/dev/null || nc_skip "$p not installed"
done
nc_ns_setup

tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
head -c 8M /dev/urandom >"$tmp/up.bin"
head -c 8M /dev/urandom >"$tmp/down.bin"
up=$(nc_sha "$tmp/up.bin")
down=$(nc_sha "$tmp/down.bin")

# Each socat end reads one file and writes what it receives to another ("READ!!WRITE" dual
# address). -t 30: after EOF one way, keep the other way open until it ends too (default 0.5 s).

# 1. socat on netcore connects to a kernel-side socat server.
nc_bg timeout 10 socat -t 30 "TCP-LISTEN:9101,bind=$NC_KERNEL_IP,reuseaddr" \
    "OPEN:$tmp/down.bin!!CREATE:$tmp/k1.bin"
server=$NC_LAST_PID
nc_wait_listen 9101 "$NC_KERNEL_IP"
rc=0
on_netcore 10 socat -t 30 "OPEN:$tmp/up.bin!!CREATE:$tmp/n1.bin" "TCP:$NC_KERNEL_IP:9101" ||
    rc=$?
status "$rc" "socat TCP client on netcore"
wait_pid "$server" "kernel-side socat server"
same "$tmp/k1.bin" "$up" "TCP netcore client -> kernel, 8 MiB"
same "$tmp/n1.bin" "$down" "TCP kernel -> netcore client, 8 MiB"

# 2. socat -u on netcore sends 8 MiB and exits as soon as it has written the last byte and
# closed the socket. As with the kernel's stack, the data still queued must reach the peer,
# then the FIN: the kernel-side receiver gets every byte and sees EOF.
nc_bg timeout 10 socat -u "TCP-LISTEN:9103,bind=$NC_KERNEL_IP,reuseaddr" "CREATE:$tmp/k3.bin"
server=$NC_LAST_PID
nc_wait_listen 9103 "$NC_KERNEL_IP"
rc=0
on_netcore 10 socat -u "FILE:$tmp/up.bin" "TCP:$NC_KERNEL_IP:9103" || rc=$?
status "$rc" "socat -u sender on netcore"
wait_pid "$server" "kernel-side socat -u receiver"
same "$tmp/k3.bin" "$up" "TCP socat -u netcore -> kernel, then exit, 8 MiB"

# 3. socat TCP-LISTEN on netcore, kernel-side socat client, which connects once socat -d -d
#    says it listens (ss cannot see netcore's listener).
nc_bg_run timeout 10 socat -d -d -t 30 "TCP-LISTEN:9102,bind=$NC_NETCORE_IP" \
    "OPEN:$tmp/down.bin!!CREATE:$tmp/n2.bin" 2>"$tmp/socat3.log"
server=$NC_LAST_PID
nc_wait_line "$tmp/socat3.log" " listening on AF=2 $NC_NETCORE_IP:9102\$" "$server"
rc=0
ip netns exec "$NC_NS" timeout 10 socat -t 30 "OPEN:$tmp/up.bin!!CREATE:$tmp/k2.bin" \
    "TCP:$NC_NETCORE_IP:9102" || rc=$?
status "$rc" "kernel-side socat client to socat TCP-LISTEN on netcore"
wait_pid "$server" "socat TCP-LISTEN on netcore"
same "$tmp/n2.bin" "$up" "TCP kernel client -> netcore listener, 8 MiB"
same "$tmp/k2.bin" "$down" "TCP netcore listener -> kernel client, 8 MiB"

# 4. UDP: a kernel-side echo server logs each datagram's source and size and replies with the
# datagram in upper case (same size: socat's 100-byte reads would truncate a longer reply).
# socat on netcore sends ten 100-byte records (-b 100: one read, one datagram) and writes the
# replies to a file; -t 2 keeps it reading replies for 2 s after its input ends (socat has no
# "N replies seen" condition to stop on).
cat >"$tmp/udpecho.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(65536)
    print(peer[0], len(data), flush=True)
    s.sendto(data.upper(), peer)
EOF
nc_bg python3 "$tmp/udpecho.py" "$NC_KERNEL_IP" 5000 >"$tmp/udp.log" 2>&1
nc_wait_udp 5000 "$NC_KERNEL_IP"
for i in $(seq 10); do
    printf '%-99s\n' "datagram $i of 10 from socat on netcore"
done >"$tmp/dgrams.txt"
for i in $(seq 10); do
    printf '%-99s\n' "DATAGRAM $i OF 10 FROM SOCAT ON NETCORE"
done >"$tmp/replies.want"
rc=0
on_netcore 10 socat -b 100 -t 2 "OPEN:$tmp/dgrams.txt!!CREATE:$tmp/replies.txt" \
    "UDP:$NC_KERNEL_IP:5000" || rc=$?
status "$rc" "socat UDP on netcore"
log=$(cat "$tmp/udp.log")
want_log=$(for i in $(seq 10); do echo "$NC_NETCORE_IP 100"; done)
if [ "$log" = "$want_log" ]; then
    echo "UDP: ten 100-byte datagrams from $NC_NETCORE_IP"
else
    printf '%s\n' "$log" >&2
    flunk "UDP server saw the (source size) lines above, want ten '$NC_NETCORE_IP 100'"
fi
same "$tmp/replies.txt" "$(nc_sha "$tmp/replies.want")" "UDP: ten replies"

checked
echo "PASS: test_prog_socat"
