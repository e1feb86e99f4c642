#!/bin/bash
# test_shim_loopback.sh — loopback goes to the kernel, the rest to netcore, in one program:
# a client talks to a kernel-side server on 127.0.0.1 and to one on the TAP at once; a
# server that binds 127.0.0.1 under the shim is reached by a kernel client.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
nc_bg python3 "$NC_TOP/tests/lib/peer.py" echo 127.0.0.1 7600
nc_wait_listen 7600 127.0.0.1
nc_peer echo 7601

cat >"$tmp/both.py" <<'PY'
import os, socket, sys
lo = socket.create_connection(("127.0.0.1", 7600))
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
out=$(timeout 30 "$NC_TOP/netcore" run --ns "$NC_NS" -- python3 "$tmp/both.py" "$NC_KERNEL_IP")
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
coproc SRV { timeout 30 "$NC_TOP/netcore" run --ns "$NC_NS" -- python3 "$tmp/srv.py"; }
srv=$SRV_PID
line=
read -r -t 20 line <&"${SRV[0]}" || true
[ "$line" = listening ] || fail "the loopback server did not start: '$line'"
got=$(ip netns exec "$NC_NS" timeout 10 socat -u TCP:127.0.0.1:7602 -)
wait "$srv" || fail "the loopback server exited $?"
[ "$got" = "hello from 127.0.0.1" ] || fail "loopback server said '$got'"
echo "ok: a server bound to 127.0.0.1 under the shim answered the kernel's client"
echo "PASS: test_shim_loopback"
