#!/bin/bash
# test_shim_loopback.sh — loopback goes to the kernel, the rest to netcore, in one program:
# a client talks to a kernel-side server on 127.0.0.1 and to one on the TAP at once; a
# server that binds 127.0.0.1 under the shim is reached by a kernel client; ranges in
# NETCORE_PASSTHROUGH go to the kernel too, and a bad one is refused.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
nc_bg python3 "$NC_SRC/tests/lib/peer.py" echo 127.0.0.1 7600
nc_wait_listen 7600 127.0.0.1
nc_peer echo 7601

cat >"$tmp/both.py" <<'PY'
import os, socket, struct, sys
# Options set before the connect that hands the socket to the kernel go with it, whatever
# their size: an int per level, a struct linger, a struct timeval.
lo = socket.socket()
want = [(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 7, 0)),
        (socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 5)),
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, struct.pack("i", 1)),
        (socket.IPPROTO_IP, socket.IP_TOS, struct.pack("i", 0x20)),
        (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, struct.pack("i", 77))]
for level, name, v in want:
    lo.setsockopt(level, name, v)
lo.connect(("127.0.0.1", 7600))
for level, name, v in want:
    got = lo.getsockopt(level, name, len(v))
    assert got == v, "option %d/%d not carried: %r" % (level, name, got)
net = socket.create_connection((sys.argv[1], 7601))
lo.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for s, name in ((lo, "loopback"), (net, "tap")):
    data = os.urandom(1 << 20)
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        got += s.recv(1 << 16)
    assert got == data, name + ": echo differs"
    print(name, s.getsockname()[0], "ok")
PY
out=$(timeout 30 "$NC_SRC/netcore" run --ns "$NC_NS" -- python3 "$tmp/both.py" "$NC_KERNEL_IP")
echo "$out"
grep -qx "loopback 127.0.0.1 ok" <<<"$out" || fail "loopback connection: $out"
grep -qx "tap $NC_NETCORE_IP ok" <<<"$out" || fail "TAP connection: $out"

# A server under the shim on 127.0.0.1: the kernel's own loopback client reaches it.
cat >"$tmp/srv.py" <<'PY'
import socket
s = socket.create_server(("127.0.0.1", 7602))
print("listening", flush=True)
c, peer = s.accept()
c.sendall(b"hello from " + peer[0].encode())
c.close()
PY
coproc SRV { timeout 30 "$NC_SRC/netcore" run --ns "$NC_NS" -- python3 "$tmp/srv.py"; }
srv=$SRV_PID
line=
read -r -t 20 line <&"${SRV[0]}" || true
[ "$line" = listening ] || fail "the loopback server did not start: '$line'"
got=$(ip netns exec "$NC_NS" timeout 10 socat -u TCP:127.0.0.1:7602 -)
wait "$srv" || fail "the loopback server exited $?"
[ "$got" = "hello from 127.0.0.1" ] || fail "loopback server said '$got'"
echo "ok: a server bound to 127.0.0.1 under the shim answered the kernel's client"

# NETCORE_PASSTHROUGH: a range the TAP does not serve goes to the kernel too. 198.18.1.77 is
# a kernel address in the namespace (on lo); a server there reports who called. Reached
# through netcore it would see 198.18.0.2 (the kernel delivers it locally all the same);
# passed through, the kernel's own 198.18.1.77. A first UDP datagram passes through as well.
ip -n "$NC_NS" addr add 198.18.1.77/32 dev lo || fail "ip addr add 198.18.1.77/32 dev lo"
cat >"$tmp/who.py" <<'PY'
import socket, sys
t = socket.create_server(("198.18.1.77", 7603))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("198.18.1.77", 7604))
print("listening", flush=True)
for _ in range(int(sys.argv[1])):
    c, peer = t.accept()
    c.sendall(peer[0].encode())
    c.close()
data, peer = u.recvfrom(100)
u.sendto(data + b" from " + peer[0].encode(), peer)
PY
cat >"$tmp/ask.py" <<'PY'
import socket
c = socket.create_connection(("198.18.1.77", 7603))
tcp = c.recv(100).decode()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(10)
u.sendto(b"udp", ("198.18.1.77", 7604))
print(tcp, u.recv(100).decode())
PY
coproc WHO { exec ip netns exec "$NC_NS" python3 "$tmp/who.py" 1; }
NC_PIDS+=("$WHO_PID")
read -r -t 10 line <&"${WHO[0]}" && [ "$line" = listening ] || fail "198.18.1.77 server"
got=$(NETCORE_PASSTHROUGH=10.9.0.0/16,198.18.1.0/24 timeout 30 "$NC_SRC/netcore" run \
    --ns "$NC_NS" -- python3 "$tmp/ask.py") || fail "ask.py with NETCORE_PASSTHROUGH"
[ "$got" = "198.18.1.77 udp from 198.18.1.77" ] ||
    fail "NETCORE_PASSTHROUGH=...,198.18.1.0/24: the server saw '$got', want the kernel's address"
echo "ok: NETCORE_PASSTHROUGH=10.9.0.0/16,198.18.1.0/24 sent TCP and UDP to the kernel"

# An IPv6 range: 2001:db8::77 is the kernel's on lo. Passed through, the connection comes
# from that address itself; through netcore it would not even resolve (the kernel answers
# neighbour solicitations on the bridge only for the bridge's own addresses).
ip -n "$NC_NS" -6 addr add 2001:db8::77/128 dev lo nodad || fail "ip addr add 2001:db8::77 dev lo"
cat >"$tmp/who6.py" <<'PY'
import socket
t = socket.create_server(("2001:db8::77", 7605), family=socket.AF_INET6)
print("listening", flush=True)
c, peer = t.accept()
c.sendall(peer[0].encode())
c.close()
PY
coproc WHO6 { exec ip netns exec "$NC_NS" python3 "$tmp/who6.py"; }
NC_PIDS+=("$WHO6_PID")
read -r -t 10 line <&"${WHO6[0]}" && [ "$line" = listening ] || fail "2001:db8::77 server"
got=$(NETCORE_PASSTHROUGH=198.18.1.0/24,2001:db8::77/128 timeout 30 "$NC_SRC/netcore" run \
    --ns "$NC_NS" -- python3 -c '
import socket
c = socket.create_connection(("2001:db8::77", 7605))
print(c.recv(100).decode())') || fail "IPv6 connection with NETCORE_PASSTHROUGH"
[ "$got" = "2001:db8::77" ] ||
    fail "NETCORE_PASSTHROUGH=...,2001:db8::77/128: the server saw '$got', want the kernel's address"
echo "ok: NETCORE_PASSTHROUGH=...,2001:db8::77/128 sent an IPv6 connection to the kernel"

# A socket in an epoll set before its connect to loopback (nginx registers upstream sockets
# first): after the hand-off the set still reports it, connected and then readable.
out=$(timeout 30 "$NC_SRC/netcore" run --ns "$NC_NS" -- python3 -c '
import select, socket
ep = select.epoll()
c = socket.socket()
c.setblocking(False)
ep.register(c.fileno(), select.EPOLLOUT | select.EPOLLIN)
c.connect_ex(("127.0.0.1", 7600))
ev = ep.poll(10)
print("connect", [e & select.EPOLLOUT != 0 for _, e in ev])
c.send(b"ping")
ep.modify(c.fileno(), select.EPOLLIN)
ev = ep.poll(10)
print("echo", [e & select.EPOLLIN != 0 for _, e in ev], c.recv(4).decode())') ||
    fail "epoll across the loopback hand-off: $out"
[ "$out" = "$(printf 'connect [True]\necho [True] ping')" ] ||
    fail "epoll across the loopback hand-off: '$out'"
echo "ok: an epoll registration made before a loopback connect survives the hand-off"

# A bad range names the variable; socket() fails instead of guessing.
err=$(NETCORE_PASSTHROUGH=198.18.1.0/33 timeout 30 "$NC_SRC/netcore" run --ns "$NC_NS" -- \
    python3 -c 'import socket; socket.socket()' 2>&1) && fail "a bad NETCORE_PASSTHROUGH was accepted"
[[ $err == *'NETCORE_PASSTHROUGH="198.18.1.0/33": bad prefix'* ]] ||
    fail "bad NETCORE_PASSTHROUGH: '$err'"
echo "ok: a bad NETCORE_PASSTHROUGH is refused, naming the variable"
echo "PASS: test_shim_loopback"
