#!/bin/bash
# test_prog_ipv6.sh — unmodified programs on netcore over IPv6 (netcore 2001:db8::2, kernel
# 2001:db8::1 on the TAP): (1) `curl -6` fetches 32 MiB from a kernel-side http.server on
# [2001:db8::1]:8000, checked by sha256, and the server logs client 2001:db8::2; (2) `nc -6`
# on netcore sends 16 MiB to a kernel-side `nc -6 -l`, and a kernel-side `nc -6` sends 16 MiB
# to `nc -6 -l` on netcore; (3) python3 AF_INET6 client on netcore against a kernel-side
# server, over 2001:db8::/64 and link-local (fe80::%nctap0), and UDP (an echo, and ICMPv6
# port unreachable as ECONNREFUSED); (4) an IPv6-only python3 server on netcore takes a
# kernel IPv6 client and refuses an IPv4 one; (5) a dual-stack python3 server on netcore bound
# to :: (IPV6_V6ONLY off) takes a kernel IPv4 client, which it sees as ::ffff:198.18.0.1, and
# an IPv6 one.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"
# shellcheck source-path=SCRIPTDIR source=lib/verdict.sh
. "$(dirname "$0")/lib/verdict.sh"

K6=$NC_KERNEL_IP6
N6=2001:db8::2

nc_require_root
for p in curl nc python3; do
    command -v "$p" >/dev/null || nc_skip "$p not installed"
done
nc -h 2>&1 | grep -q OpenBSD || nc_skip "nc is not netcat-openbsd"
nc_ns_setup
ip netns exec "$NC_NS" ip -6 addr show dev "$NC_BRIDGE" | grep -q "inet6 $K6/64" ||
    nc_skip "no IPv6 on $NC_BRIDGE (IPv6 disabled in the kernel?)"

tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
mkdir "$tmp/www"
head -c 32M /dev/urandom >"$tmp/www/big.bin"
head -c 16M /dev/urandom >"$tmp/src.bin"
head -c 4M /dev/urandom >"$tmp/small.bin"
want=$(nc_sha "$tmp/src.bin")
want_small=$(nc_sha "$tmp/small.bin")

# expect GOT WANT WHAT: GOT equals WANT.
expect() {
    if [ "$1" = "$2" ]; then
        echo "$3: $1"
    else
        flunk "$3: got '$1', want '$2'"
    fi
}

# 1. curl -6 on netcore against a kernel-side http.server on [2001:db8::1]:8000.
nc_bg python3 -u -m http.server 8000 --bind "$K6" --directory "$tmp/www" >"$tmp/http.log" 2>&1
nc_wait_listen 8000 "$K6"
rc=0
on_netcore 60 curl -6 -g -sS -v --max-time 50 -o "$tmp/got.bin" "http://[$K6]:8000/big.bin" \
    2>"$tmp/curl.err" || rc=$?
status "$rc" "curl -6 on netcore"
grep -q "Connected to $K6 ($K6) port 8000" "$tmp/curl.err" ||
    { cat "$tmp/curl.err" >&2; flunk "curl -v does not show 'Connected to $K6'"; }
same "$tmp/got.bin" "$(nc_sha "$tmp/www/big.bin")" "curl -6 GET 32 MiB"
grep -q "^$N6 - .*\"GET /big.bin HTTP/1.1\" 200" "$tmp/http.log" ||
    { cat "$tmp/http.log" >&2; flunk "http.server log lacks GET from $N6"; }

# 2a. nc -6 on netcore sends to a kernel-side nc -6 -l (-N: shut down writing at EOF).
nc_bg timeout 30 nc -6 -d -l -n "$K6" 9001 >"$tmp/recv1.bin"
recv=$NC_LAST_PID
nc_wait_listen 9001 "$K6"
rc=0
on_netcore 30 nc -6 -N -n "$K6" 9001 <"$tmp/src.bin" || rc=$?
status "$rc" "nc -6 on netcore (sender)"
wait_pid "$recv" "kernel-side nc -6 -l"
same "$tmp/recv1.bin" "$want" "netcore nc -6 -> kernel nc -6 -l"

# 2b. nc -6 -l on netcore receives from a kernel-side nc -6, which connects once nc -v says
# it listens (the listener is no kernel socket: ss cannot see it).
nc_bg_run timeout 30 nc -6 -v -d -l -n "$N6" 9002 >"$tmp/recv2.bin" 2>"$tmp/nc2.log"
server=$NC_LAST_PID
nc_wait_line "$tmp/nc2.log" "^Listening on $N6 9002" "$server"
rc=0
ip netns exec "$NC_NS" timeout 30 nc -6 -N -n "$N6" 9002 <"$tmp/src.bin" || rc=$?
status "$rc" "kernel-side nc -6 to nc -6 -l on netcore"
wait_pid "$server" "nc -6 -l on netcore"
same "$tmp/recv2.bin" "$want" "kernel nc -6 -> netcore nc -6 -l"

# The python3 peers. srv.py ADDR PORT V6ONLY COUNT: an AF_INET6 server; says "listening" once
# it listens, then for each of COUNT connections it reads to EOF and answers "PEER LOCAL BYTES
# SHA256". cli.py 4|6 ADDR PORT FILE [SCOPE-IFNAME]: connects, sends FILE, shuts down writing,
# prints the answer and then its own LOCAL and PEER addresses (with %SCOPE-ID when they have
# one). srv_up PORT: start srv.py on netcore (NC_LAST_PID) and wait for its "listening".
cat >"$tmp/srv.py" <<'EOF'
import hashlib, socket, sys
addr, port, v6only, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
s.bind((addr, port))
s.listen(8)
print("listening", flush=True)
for _ in range(count):
    c, peer = s.accept()
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(f"{peer[0]} {c.getsockname()[0]} {n} {h.hexdigest()}\n".encode())
    c.close()
EOF
cat >"$tmp/cli.py" <<'EOF'
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
addr, port, path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
scope = socket.if_nametoindex(sys.argv[5]) if len(sys.argv) > 5 else 0
dst = (addr, port, 0, scope) if fam == socket.AF_INET6 else (addr, port)
s = socket.socket(fam, socket.SOCK_STREAM)
s.connect(dst)
def name(a):
    return a[0] + (f"%{a[3]}" if fam == socket.AF_INET6 and a[3] else "")
# Before the exchange: once both ends have closed, the kernel has no peer to name (ENOTCONN).
names = name(s.getsockname()) + " " + name(s.getpeername())
with open(path, "rb") as f:
    s.sendall(f.read())
s.shutdown(socket.SHUT_WR)
answer = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    answer += b
print(answer.decode().strip(), names)
EOF
srv_up() {
    nc_bg_run timeout 60 python3 "$tmp/srv.py" :: "$@" >"$tmp/srv$1.log"
    nc_wait_line "$tmp/srv$1.log" "^listening$" "$NC_LAST_PID"
}

# 3. python3 AF_INET6 client on netcore, kernel-side server on [::]:9100, reached at its
# global address and at its link-local one (the kernel makes that when netcore opens the TAP,
# so it is read after the first run above; `netcore up` turns DAD off for it).
nc_bg timeout 60 python3 "$tmp/srv.py" :: 9100 1 2
srv=$NC_LAST_PID
nc_wait_listen 9100
rc=0
out=$(on_netcore 30 python3 "$tmp/cli.py" 6 "$K6" 9100 "$tmp/small.bin") || rc=$?
status "$rc" "python3 AF_INET6 client on netcore"
expect "$out" "$N6 $K6 4194304 $want_small $N6 $K6" "python3 client -> kernel [$K6]:9100"
# The kernel's link-local address is on the bridge; the scope on netcore's side is its own
# TAP's index (the program names the TAP).
ll=$(ip netns exec "$NC_NS" ip -6 -o addr show dev "$NC_BRIDGE" scope link |
     awk '{ split($4, a, "/"); print a[1]; exit }')
ifindex=$(ip netns exec "$NC_NS" cat "/sys/class/net/$NC_TAP/ifindex")
if [ -z "$ll" ]; then
    flunk "the kernel has no link-local address on $NC_BRIDGE"
else
    # Our link-local address is fe80:: with the EUI-64 of MAC 02:00:00:00:00:02.
    rc=0
    out=$(on_netcore 30 python3 "$tmp/cli.py" 6 "$ll" 9100 "$tmp/small.bin" "$NC_TAP") ||
        rc=$?
    status "$rc" "python3 link-local client on netcore"
    expect "$out" "fe80::ff:fe00:2 $ll 4194304 $want_small fe80::ff:fe00:2%$ifindex $ll%$ifindex" \
        "python3 client -> kernel [$ll%$NC_TAP]:9100"
fi
wait_pid "$srv" "kernel-side python3 server"

# 3b. UDP: a datagram from netcore to a kernel-side echo on [2001:db8::1]:9110 and back.
cat >"$tmp/udpecho.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
d, peer = s.recvfrom(65536)
s.sendto(d + f" from {peer[0]}".encode(), peer)
EOF
nc_bg timeout 30 python3 "$tmp/udpecho.py" "$K6" 9110
udp=$NC_LAST_PID
nc_wait_udp 9110 "$K6"
rc=0
# shellcheck disable=SC2016
out=$(on_netcore 30 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(b"ping", (sys.argv[1], 9110))
d, peer = s.recvfrom(100)
print(d.decode(), peer[0], peer[1])' "$K6") || rc=$?
status "$rc" "python3 UDP over IPv6 on netcore"
wait_pid "$udp" "kernel-side UDP echo"
expect "$out" "ping from $N6 $K6 9110" "python3 UDP netcore -> [$K6]:9110 -> back"
# The kernel's ICMPv6 port unreachable reaches a connected UDP socket as ECONNREFUSED.
# shellcheck disable=SC2016
out=$(on_netcore 30 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(10)
s.connect((sys.argv[1], 9119))
s.send(b"anyone?")
try:
    s.recv(100)
    print("answered")
except ConnectionRefusedError:
    print("refused")' "$K6") || flunk "python3 UDP to a closed port on netcore failed"
expect "$out" "refused" "python3 connected UDP -> closed [$K6]:9119 (ICMPv6 port unreachable)"

# 4. An IPv6-only python3 server on netcore: a kernel IPv6 client gets through, an IPv4 one is
# refused (reset), as by a kernel socket with IPV6_V6ONLY.
srv_up 9120 1 1
srv=$NC_LAST_PID
rc=0
out=$(ip netns exec "$NC_NS" timeout 30 python3 "$tmp/cli.py" 6 "$N6" 9120 "$tmp/small.bin") ||
    rc=$?
status "$rc" "kernel IPv6 client to the IPv6-only server on netcore"
expect "$out" "$K6 $N6 4194304 $want_small $K6 $N6" "kernel [$K6] -> netcore [::]:9120 V6ONLY"
wait_pid "$srv" "IPv6-only python3 server on netcore"
# The server took its one connection and left; start it again to be refused over IPv4.
srv_up 9121 1 1
srv=$NC_LAST_PID
# shellcheck disable=SC2016
out=$(ip netns exec "$NC_NS" timeout 30 python3 -c '
import socket, sys
v6 = socket.create_connection((sys.argv[2], 9121))  # the server takes this one
try:
    socket.create_connection((sys.argv[1], 9121), timeout=5)
    print("IPv4 connected")
except ConnectionRefusedError:
    print("IPv4 refused")
v6.close()' "$NC_NETCORE_IP" "$N6") || flunk "IPv4 probe of the IPv6-only server failed"
expect "$out" "IPv4 refused" "kernel IPv4 client -> netcore [::]:9121 V6ONLY"
wait_pid "$srv" "IPv6-only python3 server on netcore (2)"

# 5. A dual-stack python3 server on netcore bound to :: with IPV6_V6ONLY off: a kernel IPv4
# client appears IPv4-mapped on both ends of the accepted socket; an IPv6 client as itself.
srv_up 9130 0 2
srv=$NC_LAST_PID
rc=0
out=$(ip netns exec "$NC_NS" timeout 30 python3 "$tmp/cli.py" 4 "$NC_NETCORE_IP" 9130 \
      "$tmp/small.bin") || rc=$?
status "$rc" "kernel IPv4 client to the dual-stack server on netcore"
mapped="::ffff:$NC_KERNEL_IP ::ffff:$NC_NETCORE_IP"
expect "$out" "$mapped 4194304 $want_small $NC_KERNEL_IP $NC_NETCORE_IP" \
    "kernel $NC_KERNEL_IP -> netcore [::]:9130 dual stack"
rc=0
out=$(ip netns exec "$NC_NS" timeout 30 python3 "$tmp/cli.py" 6 "$N6" 9130 "$tmp/small.bin") ||
    rc=$?
status "$rc" "kernel IPv6 client to the dual-stack server on netcore"
expect "$out" "$K6 $N6 4194304 $want_small $K6 $N6" "kernel [$K6] -> netcore [::]:9130 dual stack"
wait_pid "$srv" "dual-stack python3 server on netcore"

checked
echo "PASS: test_prog_ipv6"
