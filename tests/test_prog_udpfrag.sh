#!/bin/bash
# test_prog_udpfrag.sh — large UDP datagrams, fragmented at MTU 1500, to python3 on netcore.
# A kernel-side sender sends IPv4 datagrams of 1472 (one frame), 14800 (11 fragments: lwIP's
# default of 10 fragments waiting lost it), 30000 and 65507 bytes (the largest), and IPv6 ones
# of 14800 and 65487 bytes (the largest lwIP can hold reassembled); then an IPv6 datagram of
# 65500 bytes, which the kernel would take but lwIP cannot (it failed an assertion in
# ip6_reass, which aborted the process): netcore must drop it and go on, and the last one, of
# 1000 bytes, must still arrive. Every datagram's content is checked (sha256).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
for p in python3 ping; do
    command -v "$p" >/dev/null || nc_skip "$p not installed"
done
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

cat >"$tmp/recv.py" <<'PY'
import hashlib, select, socket, sys
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.bind(("0.0.0.0", 9311))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s6.bind(("::", 9311))
print("ready", flush=True)
while True:
    r, _, _ = select.select([s4, s6], [], [], 20)
    if not r:
        print("timeout", flush=True)
        break
    for s in r:
        d = s.recv(70000)
        print("got", "v6" if s is s6 else "v4", len(d), hashlib.sha256(d).hexdigest(), flush=True)
        if s is s6 and len(d) == 1000:
            sys.exit(0)
PY

cat >"$tmp/send.py" <<'PY'
import hashlib, os, socket, sys
out = open(sys.argv[1], "w")
for fam, addr, size in [(socket.AF_INET, sys.argv[2], n) for n in (1472, 14800, 30000, 65507)] + \
                       [(socket.AF_INET6, sys.argv[3], n) for n in (14800, 65487, 65500, 1000)]:
    d = os.urandom(size)
    socket.socket(fam, socket.SOCK_DGRAM).sendto(d, (addr, 9311))
    if size != 65500:
        out.write("got %s %d %s\n" % ("v6" if fam == socket.AF_INET6 else "v4", size,
                                     hashlib.sha256(d).hexdigest()))
PY

nc_bg timeout 60 "$NC_SRC/netcore" run --ns "$NC_NS" -- python3 "$tmp/recv.py" >"$tmp/got" 2>"$tmp/err"
recv_pid=$NC_LAST_PID
nc_wait_line "$tmp/got" '^ready$' "$recv_pid"
# The kernel's neighbour entries first: while ARP or ND resolves, it queues at most 208 KB of
# frames for the address (unres_qlen_bytes) and drops the rest of a burst of fragments.
ip netns exec "$NC_NS" ping -c 1 -W 5 "$NC_NETCORE_IP" >/dev/null || fail "no ping answer over IPv4"
ip netns exec "$NC_NS" ping -6 -c 1 -W 5 2001:db8::2 >/dev/null || fail "no ping answer over IPv6"
ip netns exec "$NC_NS" python3 "$tmp/send.py" "$tmp/want" "$NC_NETCORE_IP" 2001:db8::2
nc_wait_line "$tmp/got" '^(got v6 1000 |timeout)' "$recv_pid"
grep -v '^ready$' "$tmp/got" | sort >"$tmp/got.s"
sort "$tmp/want" >"$tmp/want.s"
diff "$tmp/want.s" "$tmp/got.s" >"$tmp/diff" ||
    fail "datagrams received differ from those sent: $(cat "$tmp/diff") stderr: $(cat "$tmp/err")"
echo "PASS: test_prog_udpfrag (7 datagrams up to 65507 bytes by content; one too long for lwIP dropped, the process alive)"
