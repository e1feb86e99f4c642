#!/bin/bash
# test_remote.sh — the shim's client side of a shared stack (preload/remote*.c), on its own:
# tests/lib/fakedriver.py takes the device's rendezvous and answers the control protocol with
# kernel sockets, so programs under the shim attach to it as clients, and every answer they
# get can be checked against the kernel's. Covers the socket calls over TCP and UDP, accept
# tokens, connect outcomes, fork, real programs (curl, nginx daemonized), name resolution, threads after a privilege drop, a driver that sends stale replies
# and stray fds (none may leak), one that refuses this process (EACCES and one line), and
# one that is killed (ENETDOWN).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
# Attaching is what is tested: whatever the caller's environment says, the shared stack.
export NETCORE_STACK=shared
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
fake=$NC_SRC/tests/lib/fakedriver.py
remote=$NC_SRC/tests/lib/remote.py

# fake MODE-NAME [--refuse|--quirks]: a driver in run directory $tmp/MODE-NAME
fake() {
    local dir=$tmp/$1
    shift
    nc_bg python3 "$fake" "$dir" "$NC_TAP" "$@" >"$dir.log" 2>&1
    nc_wait_line "$dir.log" '^ready$' "$NC_LAST_PID"
}

# 1. The calls, checked one by one.
fake calls
NETCORE_RUNDIR=$tmp/calls NETCORE_LOG=info nc_run python3 "$remote" "$NC_KERNEL_IP" 7300 calls \
    >"$tmp/calls.out" 2>"$tmp/calls.err" || fail "remote.py calls: $(tail -n 3 "$tmp/calls.out")
$(tail -n 5 "$tmp/calls.err")"
grep -q "attached to the stack of $NC_TAP driven by pid" "$tmp/calls.err" ||
    fail "no 'attached' line at NETCORE_LOG=info: $(cat "$tmp/calls.err")"
echo "ok: $(grep -c '^ok:' "$tmp/calls.out") calls answered as the kernel's"

# 1b. A relayed socket inherited across exec is known again after NC_OP_IDENTIFY.
NETCORE_RUNDIR=$tmp/calls nc_run python3 "$remote" "$NC_KERNEL_IP" 7360 identify \
    >"$tmp/identify.out" 2>&1 || fail "remote.py identify: $(tail -n 5 "$tmp/identify.out")"
grep '^ok:' "$tmp/identify.out"

# 2. curl through the attached process: the file comes back whole.
head -c 3000000 /dev/urandom >"$tmp/file"
nc_bg python3 -m http.server 7310 --bind "$NC_KERNEL_IP" --directory "$tmp" >"$tmp/http.log" 2>&1
nc_wait_listen 7310 "$NC_KERNEL_IP"
NETCORE_RUNDIR=$tmp/calls nc_run curl -sS -o "$tmp/got" "http://$NC_KERNEL_IP:7310/file" ||
    fail "curl as a client of the stack failed"
cmp -s "$tmp/file" "$tmp/got" || fail "curl's copy differs"
echo "ok: curl attached to the stack fetched 3 MB intact"

# 2'. nginx in its stock shape, attached: daemon, master, 2 workers (setuid nobody), epoll,
#     accept4, sendfile; 4 clients at once, each file intact.
if command -v nginx >/dev/null; then
    mkdir "$tmp/www"
    head -c 16M /dev/urandom >"$tmp/www/big.bin"
    cat >"$tmp/nginx.conf" <<CONF
daemon on;
master_process on;
worker_processes 2;
pid $tmp/nginx.pid;
error_log $tmp/error.log info;
events { worker_connections 64; }
http {
    sendfile on;
    access_log $tmp/access.log;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    server { listen $NC_KERNEL_IP:7350; root $tmp/www; }
}
CONF
    chmod 755 "$tmp"
    NETCORE_RUNDIR=$tmp/calls nc_run nginx -p "$tmp" -c "$tmp/nginx.conf" ||
        fail "nginx did not start: $(cat "$tmp/error.log")"
    # The daemon's pid, written before the daemon returned: ours to stop at exit.
    nc_at_exit "kill \$(cat '$tmp/nginx.pid') 2>/dev/null"
    nc_wait_listen 7350 "$NC_KERNEL_IP"
    pids=()
    for i in 1 2 3 4; do
        ip netns exec "$NC_NS" curl -sS --max-time 30 -o "$tmp/got$i.bin" \
            "http://$NC_KERNEL_IP:7350/big.bin" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || fail "curl from nginx failed: $(tail -n 5 "$tmp/error.log")"
    done
    want=$(nc_sha "$tmp/www/big.bin")
    for i in 1 2 3 4; do
        [ "$(nc_sha "$tmp/got$i.bin")" = "$want" ] || fail "copy $i from nginx differs"
    done
    echo "ok: nginx (daemon, 2 workers) attached served 4 x 16 MiB intact"
fi

# 2a. Name resolution in an attached process: c-ares's sockets are relayed too (UDP, and TCP
#     for an answer of 50 addresses).
command -v dnsmasq >/dev/null || nc_skip "no dnsmasq (./netcore deps)"
for i in $(seq 10 59); do echo "198.18.1.$i many.netcore.test"; done >"$tmp/many.hosts"
nc_bg dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --interface="$NC_BRIDGE" --except-interface=lo --bind-interfaces --user=root --group=root \
    --local=/netcore.test/ --host-record=web.netcore.test,"$NC_KERNEL_IP" \
    --addn-hosts="$tmp/many.hosts" >"$tmp/dnsmasq.out" 2>&1
nc_wait_udp 53 "$NC_KERNEL_IP"
got=$(NETCORE_RUNDIR=$tmp/calls nc_run python3 -c '
import socket
print(socket.getaddrinfo("web.netcore.test", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0],
      len(socket.getaddrinfo("many.netcore.test", 80, socket.AF_INET, socket.SOCK_STREAM)))') ||
    fail "getaddrinfo in an attached process failed"
[ "$got" = "$NC_KERNEL_IP 50" ] || fail "getaddrinfo in an attached process: '$got'"
echo "ok: names resolved in an attached process: $got"

# 2b. After a drop to nobody, a new thread still reaches the driver (a connection kept from
#     before the drop; the run directory is root's). The system's python: nobody must be able
#     to read its modules.
NETCORE_RUNDIR=$tmp/calls nc_run /usr/bin/python3 "$remote" "$NC_KERNEL_IP" 7340 drop \
    >"$tmp/drop.out" 2>&1 || fail "remote.py drop: $(tail -n 5 "$tmp/drop.out")"
grep '^ok:' "$tmp/drop.out"

# 3. Stale replies and stray fds are dropped and closed.
fake quirks --quirks
NETCORE_RUNDIR=$tmp/quirks nc_run python3 "$remote" "$NC_KERNEL_IP" 7320 quirks \
    >"$tmp/quirks.out" 2>&1 || fail "remote.py quirks: $(tail -n 5 "$tmp/quirks.out")"
grep '^ok:' "$tmp/quirks.out"

# 4. A driver that refuses: socket() fails with EACCES, and one line says why, once.
fake refuse --refuse
cat >"$tmp/sock.py" <<'PY'
import socket, errno
for _ in range(2):
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        print("created")
    except OSError as e:
        print("errno", errno.errorcode.get(e.errno, e.errno))
PY
got=$(NETCORE_RUNDIR=$tmp/refuse nc_run python3 "$tmp/sock.py" 2>"$tmp/refuse.err")
[ "$got" = $'errno EACCES\nerrno EACCES' ] || fail "socket() under a refusing driver: $got: $(cat "$tmp/refuse.err")"
[ "$(wc -l <"$tmp/refuse.err")" -eq 1 ] || fail "want one line, got: $(cat "$tmp/refuse.err")"
grep -q "the stack's driver refused this process" "$tmp/refuse.err" ||
    fail "the line does not say the driver refused: $(cat "$tmp/refuse.err")"
echo "ok: refused: $(cat "$tmp/refuse.err")"

# 5. The driver killed under an attached process: its next calls fail with ENETDOWN.
mkdir -m 700 "$tmp/gone"
NETCORE_RUNDIR=$tmp/gone nc_run python3 "$remote" "$NC_KERNEL_IP" 7330 gone "$fake" \
    "$tmp/gone" "$NC_TAP" >"$tmp/gone.out" 2>&1 || fail "remote.py gone: $(cat "$tmp/gone.out")"
echo "ok: driver killed: $(grep -c '^ok:' "$tmp/gone.out") checks"
echo "PASS: test_remote"
