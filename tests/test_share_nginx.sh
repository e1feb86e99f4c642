#!/bin/bash
# test_share_nginx.sh — nginx in its stock shape on one shared stack (issue 14): daemon on,
# master_process on, worker_processes 2, the default user (the workers drop to nobody), with a
# pid file. The command that starts it returns at once (the daemonizing parent exits; a keeper
# drives the stack from then on); the master's two workers serve 198.18.0.2:8080 to the kernel
# side: a 16 MiB file by sha256, and wrk for 3 s with 16 connections without a socket error.
# kill -QUIT of the master: the master, its workers and the stack's keeper all exit.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"
# shellcheck source-path=SCRIPTDIR source=lib/nginx.sh
. "$(dirname "$0")/lib/nginx.sh"

PORT=8080

nc_require_root
for p in nginx curl wrk flock; do
    command -v "$p" >/dev/null || nc_skip "$p not installed (./netcore deps)"
done
nc_ns_setup

# Readable by the workers (user nobody): not a mktemp -d directory (0700).
tmp=$(mktemp -d)
chmod 755 "$tmp"
nc_at_exit "rm -rf '$tmp'"
mkdir "$tmp/www"
head -c 16M /dev/urandom >"$tmp/www/big.bin"
head -c 1024 /dev/urandom >"$tmp/www/small.bin"
chmod -R a+rX "$tmp/www"
nc_nginx_conf "$tmp" "$PORT" 256 "    sendfile on;
    log_format withpid '\$remote_addr \$pid \$status \$body_bytes_sent \"\$request\"';
    access_log $tmp/access.log withpid;"

nc_at_exit "nc_nginx_stop '$tmp'"

# 1. Start: returns at once, nginx's master running in the background.
start=$SECONDS
rc=0
NETCORE_LOG=info on_netcore 20 nginx -p "$tmp" -c "$tmp/nginx.conf" >"$tmp/start.out" 2>&1 ||
    rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/start.out" "$tmp/error.log" >&2; fail "nginx start: exit $rc"; }
((SECONDS - start < 10)) || fail "nginx took $((SECONDS - start)) s to return (daemon on)"
[ -s "$tmp/nginx.pid" ] || { cat "$tmp/start.out" "$tmp/error.log" >&2; fail "no pid file"; }
master=$(cat "$tmp/nginx.pid")
kill -0 "$master" 2>/dev/null || { cat "$tmp/error.log" >&2; fail "nginx master $master not running"; }
workers=$(nc_wait_children "$master" 2 10)
echo "nginx: start returned in $((SECONDS - start)) s; master $master, workers $workers"
keeper=$(nc_stack_holders | paste -sd " " -)
echo "the stack's driver (keeper): ${keeper:-none}; start log: $(grep -m1 'keeper' "$tmp/start.out" || true)"
[ -n "$keeper" ] || fail "no process holds the stack's rendezvous lock in $NETCORE_RUNDIR"
# One process drives: the keeper, neither nginx's master nor a worker (a copy of the lock's
# descriptor left in them would keep the lock held after the keeper's end).
[ "$(wc -w <<<"$keeper")" -eq 1 ] || fail "want one process holding the rendezvous lock, got $keeper"
for p in $master $workers; do
    [ "$p" != "$keeper" ] || fail "nginx's process $p holds the stack's rendezvous lock"
done

# 2. A 16 MiB file, checked by sha256.
rc=0
out=$(ip netns exec "$NC_NS" curl -sS --max-time 40 -o "$tmp/got.bin" \
    -w '%{http_code} %{remote_ip}' "http://$NC_NETCORE_IP:$PORT/big.bin") || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/error.log" >&2; fail "curl: exit $rc ($out)"; }
[ "$out" = "200 $NC_NETCORE_IP" ] || fail "curl: '$out', want '200 $NC_NETCORE_IP'"
want=$(nc_sha "$tmp/www/big.bin")
got=$(nc_sha "$tmp/got.bin")
[ "$got" = "$want" ] ||
    { cat "$tmp/error.log" >&2; fail "sha256 $got ($(stat -c %s "$tmp/got.bin") bytes), want $want"; }
echo "ok: 16 MiB from nginx's workers, sha256 $got"

# 3. wrk: 2 threads, 16 connections, 3 s; no socket error, no non-2xx answer.
rc=0
ip netns exec "$NC_NS" timeout 30 wrk -t2 -c16 -d3s "http://$NC_NETCORE_IP:$PORT/small.bin" \
    >"$tmp/wrk.out" 2>&1 || rc=$?
cat "$tmp/wrk.out"
[ "$rc" -eq 0 ] || fail "wrk: exit $rc"
! grep -q 'Socket errors' "$tmp/wrk.out" || { tail -n 20 "$tmp/error.log" >&2; fail "wrk: socket errors"; }
! grep -q 'Non-2xx' "$tmp/wrk.out" || fail "wrk: non-2xx answers"
reqs=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' "$tmp/wrk.out")
[ "${reqs:-0}" -gt 0 ] || fail "wrk: no requests done"
echo "ok: wrk: $reqs requests, no socket errors; by worker pid:" \
    "$(awk '$6 == "/small.bin" {print $2}' "$tmp/access.log" | sort | uniq -c | tr '\n' ' ')"

# 4. kill -QUIT: graceful stop; the master, the workers and the keeper exit.
kill -QUIT "$master"
nc_pid_wait_gone "$master" 20
for w in $workers; do nc_pid_wait_gone "$w" 10; done
nc_stack_wait_free 10
for k in $keeper; do nc_pid_wait_gone "$k" 5; done
[ -z "$(nc_stack_holders)" ] || fail "still holding the stack: $(nc_stack_holders | paste -sd ' ' -)"
echo "ok: after kill -QUIT the master, its workers and the keeper ($keeper) are gone;" \
    "the keeper said: $(grep -m1 'keeper: ' "$tmp/start.out" || echo nothing)"
echo "PASS: test_share_nginx"
