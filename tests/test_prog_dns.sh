#!/bin/bash
# test_prog_dns.sh — name resolution through netcore. A kernel-side dnsmasq (bound to the bridge
# only, logging every query) serves netcore.test; programs on netcore resolve through it, and
# its log shows each query coming from netcore's address: curl downloads
# http://web.netcore.test:8000/file (sha256 checked); python3's getaddrinfo, gethostbyname,
# gethostbyaddr and getnameinfo answer as glibc does on the kernel stack with the same server
# (outputs compared); a nonexistent name is EAI_NONAME; /etc/hosts names send no query; an
# answer too large for UDP comes over TCP; a silent server, a bad NETCORE_DNS and a stack
# that cannot start fail with EAI_AGAIN within bounded time. node's dns.lookup resolves on
# netcore although node exports its own c-ares.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

PORT=8000

nc_require_root
for p in curl python3 /usr/bin/python3 dnsmasq setpriv; do
    command -v "$p" >/dev/null || nc_skip "$p not installed"
done
nc_ns_setup

tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

# The namespace's own resolv.conf and hosts (ip netns exec mounts /etc/netns/NS/* over
# /etc/*): glibc on the kernel side asks our dnsmasq and nothing beyond the namespace, with
# no search list; one hosts line of our own.
etc=/etc/netns/$NC_NS
mkdir -p "$etc"
nc_at_exit "rm -rf '$etc'"
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$NC_KERNEL_IP" >"$etc/resolv.conf"
# (Not glibc's "::1 localhost" line: for AF_INET glibc turns it into a second 127.0.0.1.)
printf '127.0.0.1 localhost\n::1 ip6-localhost\n198.18.0.77 kside.netcore.test kside\n' \
    >"$etc/hosts"
ip netns exec "$NC_NS" cat /etc/resolv.conf | grep -qx "nameserver $NC_KERNEL_IP" ||
    fail "ip netns exec does not show $etc/resolv.conf as /etc/resolv.conf"

# 50 addresses for one name: 50 A records do not fit a 512-byte UDP answer.
for i in $(seq 10 59); do echo "198.18.1.$i many.netcore.test"; done >"$tmp/many.hosts"

nc_bg dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --interface="$NC_BRIDGE" --except-interface=lo --bind-interfaces --user=root --group=root \
    --pid-file="$tmp/dnsmasq.pid" --log-queries --log-facility="$tmp/dnsmasq.log" \
    --local=/netcore.test/ --host-record=web.netcore.test,"$NC_KERNEL_IP" \
    --host-record=six.netcore.test,"$NC_KERNEL_IP6" --cname=alias.netcore.test,web.netcore.test \
    --host-record=node.netcore.test,198.18.2.1 \
    --addn-hosts="$tmp/many.hosts" >"$tmp/dnsmasq.out" 2>&1
nc_wait_udp 53 "$NC_KERNEL_IP"
# Bound to the TAP's own addresses only: not to loopback, not to a wildcard.
bound=$(ip netns exec "$NC_NS" ss -Hlnu 'sport = :53' | awk '{ print $4 }')
grep -qvE "^($NC_KERNEL_IP|\[$NC_KERNEL_IP6\]):53$" <<<"$bound" &&
    fail "dnsmasq listens beyond $NC_BRIDGE: $bound"
dnsmasq_pid=$(cat "$tmp/dnsmasq.pid")

mkdir "$tmp/www"
head -c 1M /dev/urandom >"$tmp/www/file"
nc_bg python3 -u -m http.server "$PORT" --bind "$NC_KERNEL_IP" --directory "$tmp/www" \
    >"$tmp/http.log" 2>&1
# http.server looks up its own name (getfqdn, through the kernel) before it says it serves,
# and dnsmasq logs a query before it answers it: from here on, only our programs ask.
nc_wait_line "$tmp/http.log" "^Serving HTTP on $NC_KERNEL_IP port $PORT" "$NC_LAST_PID"
start=$(($(wc -l <"$tmp/dnsmasq.log") + 1))

# queries [NAME]: the dnsmasq log lines of queries since start (for NAME).
queries() {
    tail -n "+$start" "$tmp/dnsmasq.log" | grep -F "]: query[" | grep -F " ${1:+$1 }from " ||
        true
}

# 1. curl by name: the file arrives intact, from the server netcore's name lookup found.
rc=0
on_netcore 30 curl -sS --max-time 20 -o "$tmp/got" "http://web.netcore.test:$PORT/file" \
    2>"$tmp/curl.err" || rc=$?
[ "$rc" -eq 0 ] ||
    fail "curl http://web.netcore.test:$PORT/file on netcore: exit $rc: $(cat "$tmp/curl.err")"
[ "$(nc_sha "$tmp/got")" = "$(nc_sha "$tmp/www/file")" ] || fail "curl: the file differs"
grep -q "^$NC_NETCORE_IP - .*\"GET /file HTTP/1.1\" 200" "$tmp/http.log" ||
    fail "the server did not log the GET from $NC_NETCORE_IP: $(cat "$tmp/http.log")"
q=$(queries web.netcore.test)
grep -q "query\[A\] web.netcore.test from $NC_NETCORE_IP$" <<<"$q" ||
    fail "dnsmasq saw no A query for web.netcore.test from $NC_NETCORE_IP: $q"
echo "curl: web.netcore.test resolved through netcore, 1 MiB sha256 ok"

# 2. python3 on netcore: each call, its answer or error.
cat >"$tmp/calls.py" <<'EOF'
import socket, sys

def show(label, f):
    try:
        r = f()
    except (socket.gaierror, socket.herror) as e:
        r = "%s %s" % (type(e).__name__, e.args)
    print(label, "=>", r)

def addrs(name, family=0):
    return sorted({a[4][0] for a in socket.getaddrinfo(name, 80, family, socket.SOCK_STREAM)})

for name in sys.argv[1].split():
    show("getaddrinfo " + name, lambda: addrs(name))
    show("getaddrinfo AF_INET CANONNAME " + name,
         lambda: [(a[3], a[4]) for a in socket.getaddrinfo(
             name, "http", socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)])
    show("gethostbyname " + name, lambda: socket.gethostbyname(name))
    show("gethostbyname_ex " + name, lambda: socket.gethostbyname_ex(name))
for addr in sys.argv[2].split():
    show("gethostbyaddr " + addr, lambda: socket.gethostbyaddr(addr))
    show("getnameinfo " + addr, lambda: socket.getnameinfo((addr, 8000), 0))
    show("getnameinfo NAMEREQD " + addr,
         lambda: socket.getnameinfo((addr, 8000), socket.NI_NAMEREQD))
EOF
names="web.netcore.test alias.netcore.test nope.netcore.test six.netcore.test localhost kside"
addrs="$NC_KERNEL_IP 198.18.0.77 127.0.0.1 198.18.1.200"
on_netcore 60 python3 "$tmp/calls.py" "$names" "$addrs" >"$tmp/netcore.out" 2>"$tmp/py.err" ||
    fail "python3 on netcore: $(cat "$tmp/py.err")"
cat "$tmp/netcore.out"

# expect LINE: the netcore run printed LINE.
expect() {
    grep -qxF "$1" "$tmp/netcore.out" || fail "python3 on netcore: want '$1'"
}
expect "getaddrinfo web.netcore.test => ['$NC_KERNEL_IP']"
expect "gethostbyname_ex alias.netcore.test => ('web.netcore.test', ['alias.netcore.test'], \
['$NC_KERNEL_IP'])"
expect "getaddrinfo nope.netcore.test => gaierror (-2, 'Name or service not known')"
expect "gethostbyname six.netcore.test => gaierror (-5, 'No address associated with hostname')"
expect "gethostbyname localhost => 127.0.0.1"
expect "gethostbyname_ex kside => ('kside.netcore.test', ['kside'], ['198.18.0.77'])"
expect "gethostbyaddr $NC_KERNEL_IP => ('web.netcore.test', [], ['$NC_KERNEL_IP'])"
expect "getnameinfo $NC_KERNEL_IP => ('web.netcore.test', '8000')"
expect "getnameinfo 127.0.0.1 => ('localhost', '8000')"
# An answer too large for UDP: all 50 addresses arrive.
many=$(on_netcore 30 python3 -c 'import socket; print(len({a[4][0] for a in
    socket.getaddrinfo("many.netcore.test", 80, socket.AF_INET, socket.SOCK_STREAM)}))')
[ "$many" = 50 ] || fail "many.netcore.test: $many addresses, want 50"

# The /etc/hosts names sent no query.
for n in localhost kside kside.netcore.test 77.0.18.198.in-addr.arpa 1.0.0.127.in-addr.arpa; do
    [ -z "$(queries "$n")" ] || fail "a DNS query for /etc/hosts name $n: $(queries "$n")"
done
# The 50 addresses came over TCP: dnsmasq answers TCP in a child process, so a query for the
# name is logged by a pid other than the listener's (which writes the child's lines to the
# log a moment later). Only netcore's python3 has asked for this name so far.
nc_wait_line "$tmp/dnsmasq.log" "]: query\[A\] many\.netcore\.test from $NC_NETCORE_IP\$" "" \
    "dnsmasq\[$dnsmasq_pid\]"
# Every query so far came from netcore's address.
q=$(queries)
[ "$(wc -l <<<"$q")" -gt 10 ] || fail "too few queries logged: $q"
! grep -qv " from $NC_NETCORE_IP$" <<<"$q" || fail "queries not from netcore: $q"
echo "all $(wc -l <<<"$q") queries came from $NC_NETCORE_IP; none for /etc/hosts names;" \
     "the truncated answer was retried over TCP"

# 3. The same calls on the kernel stack, where glibc resolves through the same dnsmasq: the
#    answers and errors are the same.
ip netns exec "$NC_NS" timeout 60 python3 "$tmp/calls.py" "$names" "$addrs" >"$tmp/kernel.out" \
    2>&1 || fail "python3 on the kernel stack: $(cat "$tmp/kernel.out")"
diff -u "$tmp/kernel.out" "$tmp/netcore.out" >"$tmp/diff" ||
    fail "netcore's answers differ from glibc's: $(cat "$tmp/diff")"
echo "glibc on the kernel stack gives the same $(wc -l <"$tmp/kernel.out") answers"

# 4. A program with a c-ares of its own: node links c-ares statically and exports its ares_*
#    functions, which come first in the global scope. libnetcore.so takes none of them from
#    there (its c-ares is linked in, hidden); when it did, its channel was made by node's
#    c-ares and polled through the system's, which saw no socket, and every lookup ended in
#    EAI_AGAIN at the timeout.
ares=$(nm -D "$NC_TOP/preload/.libs/libnetcore.so" | grep -E ' ares_' || true)
[ -z "$ares" ] || fail "libnetcore.so has dynamic ares_* symbols: $ares"
if command -v node >/dev/null; then
    out=$(on_netcore 30 node -e 'require("dns").lookup(process.argv[1], { family: 4 },
        (e, a) => console.log(e ? e.code : a))' node.netcore.test 2>"$tmp/node.err") ||
        fail "node on netcore: $(cat "$tmp/node.err")"
    [ "$out" = 198.18.2.1 ] || fail "node dns.lookup node.netcore.test: '$out', want 198.18.2.1"
    q=$(queries node.netcore.test)
    grep -q "query\[A\] node.netcore.test from $NC_NETCORE_IP$" <<<"$q" ||
        fail "dnsmasq saw no A query for node.netcore.test from $NC_NETCORE_IP: $q"
    echo "node $(node --version) (c-ares $(node -p process.versions.ares)," \
         "$(nm -D "$(command -v node)" | grep -c ' T ares_') ares_* exported):" \
         "dns.lookup node.netcore.test => $out through netcore"
else
    echo "node case skipped: node not installed"
fi

# 5. Failures: EAI_AGAIN within the configured time, and a line on stderr when netcore itself
#    is the cause.
# one.py also runs as user nobody (below): it lives in NC_USER_DIR, where that user reads it.
nc_user_dir
one=$NC_USER_DIR/one.py
cat >"$one" <<'EOF'
import socket, sys, time
t = time.monotonic()
try:
    r = socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
except socket.gaierror as e:
    r = "gaierror %d" % e.errno
print(r, round(time.monotonic() - t))
EOF
# A server that never answers (no host at 198.18.0.3): one try of one second.
out=$(RES_OPTIONS="timeout:1 attempts:1" NETCORE_DNS=198.18.0.3 \
    on_netcore 30 python3 "$one" web.netcore.test)
[ "$out" = "gaierror -3 1" ] ||
    fail "silent server, timeout:1 attempts:1: '$out', want EAI_AGAIN after 1 s"
echo "silent server: EAI_AGAIN after 1 s (timeout:1 attempts:1)"
# A bad NETCORE_DNS: no DNS, a line naming the variable; /etc/hosts still answers.
out=$(NETCORE_DNS=dns.example on_netcore 30 python3 "$one" web.netcore.test \
    2>"$tmp/err") || true
[ "$out" = "gaierror -3 0" ] || fail "bad NETCORE_DNS: '$out', want EAI_AGAIN at once"
grep -q 'cannot look up web.netcore.test: .*NETCORE_DNS="dns.example"' "$tmp/err" ||
    fail "bad NETCORE_DNS: stderr does not name it: $(cat "$tmp/err")"
out=$(NETCORE_DNS=dns.example on_netcore 30 python3 "$one" localhost 2>/dev/null) || true
[ "$out" = "127.0.0.1 0" ] || fail "bad NETCORE_DNS: localhost gave '$out'"
echo "bad NETCORE_DNS: EAI_AGAIN and $(head -c 120 "$tmp/err")..."
# No stack (no such TAP, as an unprivileged user): EAI_AGAIN and a line saying why; the
# kernel's resolver is not used instead.
before=$(queries | wc -l)
out=$(NETCORE_TAP=nosuchtap0 nc_as_nobody 30 /usr/bin/python3 "$one" \
    web.netcore.test 2>"$tmp/err") || true
[ "$out" = "gaierror -3 0" ] || fail "no stack: '$out', want EAI_AGAIN at once"
grep -q "cannot look up web.netcore.test: DNS goes through netcore, and its stack did not start" \
    "$tmp/err" || fail "no stack: stderr says $(cat "$tmp/err")"
[ "$(queries | wc -l)" -eq "$before" ] ||
    fail "no stack: a query reached dnsmasq anyway"
out=$(NETCORE_TAP=nosuchtap0 nc_as_nobody 30 /usr/bin/python3 "$one" localhost \
    2>/dev/null) || true
[ "$out" = "127.0.0.1 0" ] || fail "no stack: localhost gave '$out'"
echo "no stack: EAI_AGAIN, stderr: $(grep "cannot look up" "$tmp/err")"

echo "PASS: test_prog_dns"
