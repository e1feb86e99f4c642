#!/bin/bash
# test_share_hosts.sh — one host, several programs (issue 14): on netcore in one namespace,
# all at 198.18.0.2 on one shared stack: a daemonizing server (tests/lib/hosting.py daemon:
# the parent exits at once, the child serves a file) checked after its parent is
# gone; then two unrelated servers at once, python3 -m http.server on 8080 and an echo server
# on 6380 (tests/lib/echoserve.py), both reached from the kernel side and checked by content;
# and a netcore client beside them (tests/lib/hosting.py client) that talks to a kernel-side
# peer and to both servers, from the same address 198.18.0.2. Last, on a stack of its own
# again, a daemon whose parent leaves with _exit(2), as daemon(3) does, without exit handlers.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
command -v socat >/dev/null || nc_skip "socat not installed (./netcore deps)"
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
HOSTING=$NC_SRC/tests/lib/hosting.py
mkdir "$tmp/www"
head -c 4M /dev/urandom >"$tmp/www/file"
head -c 1M /dev/urandom >"$tmp/daemon.bin"
want=$(nc_sha "$tmp/www/file")
want_d=$(nc_sha "$tmp/daemon.bin")
nc_peer echo 7810

# fetch_daemon N [PORT]: one connection to the daemon (on port 7801, or PORT) from the kernel
# side; its content must match.
fetch_daemon() {
    ip netns exec "$NC_NS" timeout 20 socat -u "TCP:$NC_NETCORE_IP:${2:-7801}" - >"$tmp/d$1.out" ||
        fail "fetch $1 from the daemon failed"
    [ "$(nc_sha "$tmp/d$1.out")" = "$want_d" ] ||
        fail "fetch $1 from the daemon: $(stat -c %s "$tmp/d$1.out") bytes, content differs"
}

# 1. The daemonizing parent: the command returns at once; its child serves.
start=$SECONDS
rc=0
NETCORE_LOG=info on_netcore 20 python3 "$HOSTING" daemon "$NC_NETCORE_IP" 7801 \
    "$tmp/daemon.bin" exit >"$tmp/daemon.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/daemon.log" >&2; fail "the daemonizing parent exited $rc"; }
((SECONDS - start < 10)) || fail "the daemonizing parent took $((SECONDS - start)) s to exit"
child=$(sed -n 's/^daemon: child \([0-9]*\)$/\1/p' "$tmp/daemon.log")
[ -n "$child" ] || fail "no child pid from the daemon: $(cat "$tmp/daemon.log")"
nc_at_exit "kill -KILL $child 2>/dev/null"
nc_wait_line "$tmp/daemon.log" "^daemon: serving pid $child\$" "$child"
fetch_daemon 1
fetch_daemon 2
echo "ok: the daemon's parent exited at once; its child $child served 2 connections after it" \
     "(the stack driven by pid $(nc_stack_holders | paste -sd ' ' -))"

# 2. Two unrelated servers on 198.18.0.2 at once.
nc_bg_run python3 -u -m http.server 8080 --bind "$NC_NETCORE_IP" --directory "$tmp/www" \
    >"$tmp/http.log" 2>&1
http=$NC_LAST_PID
nc_wait_line "$tmp/http.log" "^Serving HTTP on $NC_NETCORE_IP port 8080" "$http"
nc_bg_run python3 "$NC_SRC/tests/lib/echoserve.py" thread "$NC_NETCORE_IP" 6380 \
    >"$tmp/echo.log" 2>&1
ech=$NC_LAST_PID
nc_wait_line "$tmp/echo.log" "^listening on $NC_NETCORE_IP 6380 " "$ech"

rc=0
out=$(ip netns exec "$NC_NS" curl -sS --max-time 30 -o "$tmp/got" \
    -w '%{http_code} %{remote_ip}' "http://$NC_NETCORE_IP:8080/file") || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/http.log" >&2; fail "curl of the web server: exit $rc ($out)"; }
[ "$out" = "200 $NC_NETCORE_IP" ] || fail "curl: '$out', want '200 $NC_NETCORE_IP'"
[ "$(nc_sha "$tmp/got")" = "$want" ] || fail "the web server's file differs"
echo "ok: web server on $NC_NETCORE_IP:8080: 4 MiB, sha256 $want"
rc=0
ip netns exec "$NC_NS" timeout 40 python3 "$NC_SRC/tests/lib/blast.py" "$NC_NETCORE_IP" 6380 4 \
    1000000 >"$tmp/blast.out" 2>&1 || rc=$?
cat "$tmp/blast.out"
[ "$rc" -eq 0 ] || { cat "$tmp/echo.log" >&2; fail "clients of the echo server: exit $rc"; }
echo "ok: echo server on $NC_NETCORE_IP:6380 at the same time"

# 3. The daemon still serves, beside the two.
fetch_daemon 3
{ kill -0 "$http" && kill -0 "$ech"; } || fail "a server exited"
echo "ok: the daemon still serves beside them"

# 4. A netcore client beside the servers: a kernel-side peer and both servers.
rc=0
on_netcore 40 python3 "$HOSTING" client "$NC_KERNEL_IP" 7810 "$NC_NETCORE_IP" 8080 6380 /file \
    >"$tmp/client.log" 2>&1 || rc=$?
cat "$tmp/client.log"
[ "$rc" -eq 0 ] || fail "the netcore client exited $rc"
grep -qx "client: echo with the kernel-side peer from $NC_NETCORE_IP" "$tmp/client.log" ||
    fail "the client's address is not $NC_NETCORE_IP (one stack, one address)"
grep -q "^client: GET /file from $NC_NETCORE_IP:8080: 200, 4194304 bytes, sha256 $want\$" \
    "$tmp/client.log" || fail "the client's GET from the web server"
grep -qx "client: echo with $NC_NETCORE_IP:6380 byte-identical" "$tmp/client.log" ||
    fail "the client's echo with the echo server"
fetch_daemon 4
holders=$(nc_stack_holders | paste -sd ' ' -)
[ "$(wc -w <<<"$holders")" -eq 1 ] || fail "want one process driving the stack, got '$holders'"
echo "ok: a netcore client beside the servers reached the kernel side and both servers"

# 5. Everything stopped, the stack gone; then a daemon whose parent ends with _exit.
kill "$http" "$ech" "$child" 2>/dev/null
wait "$http" "$ech" 2>/dev/null || true
nc_pid_wait_gone "$child" 10
nc_stack_wait_free 10
rc=0
NETCORE_LOG=info on_netcore 20 python3 "$HOSTING" daemon "$NC_NETCORE_IP" 7802 \
    "$tmp/daemon.bin" _exit >"$tmp/daemon2.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/daemon2.log" >&2; fail "the _exit daemon's parent exited $rc"; }
child2=$(sed -n 's/^daemon: child \([0-9]*\)$/\1/p' "$tmp/daemon2.log")
[ -n "$child2" ] || fail "no child pid from the _exit daemon: $(cat "$tmp/daemon2.log")"
nc_at_exit "kill -KILL $child2 2>/dev/null"
nc_wait_line "$tmp/daemon2.log" "^daemon: serving pid $child2\$" "$child2"
fetch_daemon 5 7802
fetch_daemon 6 7802
echo "ok: a daemon whose parent left with _exit serves after it"
echo "PASS: test_share_hosts"
