#!/bin/bash
# test_share_nginxorphan.sh — nginx in its stock shape (daemon, master and 2 workers) on a
# shared stack whose driver, the keeper, is killed with SIGKILL: the workers must come to
# rest, as on a kernel whose network goes away. A worker orphaned so in a failed test spun at
# 100% of a core for 1.5 hours: its relayed listener reported EPOLLIN|EPOLLHUP for ever to its
# level-triggered epoll_wait, and accept failed each time. After a worker's first "accept4()
# failed" in the error log, each worker's CPU time (/proc/PID/schedstat) over the next second
# must stay under 50 ms; then kill -QUIT still ends the master and its workers.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"
# shellcheck source-path=SCRIPTDIR source=lib/nginx.sh
. "$(dirname "$0")/lib/nginx.sh"

PORT=8081

nc_require_root
for p in nginx curl flock; do
    command -v "$p" >/dev/null || nc_skip "$p not installed (./netcore deps)"
done
nc_ns_setup

tmp=$(mktemp -d)
chmod 755 "$tmp" # the workers (user nobody) read it
nc_at_exit "rm -rf '$tmp'"
mkdir "$tmp/www"
echo hello >"$tmp/www/index.html"
chmod -R a+rX "$tmp/www"
nc_nginx_conf "$tmp" "$PORT" 64 "    access_log off;"

nc_at_exit "nc_nginx_stop '$tmp'"

rc=0
on_netcore 20 nginx -p "$tmp" -c "$tmp/nginx.conf" >"$tmp/start.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/start.out" "$tmp/error.log" >&2; fail "nginx start: exit $rc"; }
master=$(cat "$tmp/nginx.pid")
workers=$(nc_wait_children "$master" 2 10)
keeper=$(nc_stack_holders | paste -sd " " -)
[ "$(wc -w <<<"$keeper")" -eq 1 ] || fail "want one process driving the stack, got '$keeper'"
out=$(ip netns exec "$NC_NS" curl -sS --max-time 20 "http://$NC_NETCORE_IP:$PORT/") ||
    fail "curl: exit $?"
[ "$out" = hello ] || fail "curl: '$out', want 'hello'"
echo "nginx: master $master, workers $workers, served on the stack driven by $keeper"

cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }
kill -KILL "$keeper"
nc_pid_wait_gone "$keeper" 10
echo "keeper $keeper killed"
nc_wait_line "$tmp/error.log" 'accept4?\(\) failed' "$master"
echo "error log: $NC_LINE"
declare -A before
for w in $workers; do before[$w]=$(cpu_ns "$w"); done
sleep 1 # the window the workers' CPU time is measured over
spin=
for w in $workers; do
    ms=$((($(cpu_ns "$w") - before[$w]) / 1000000))
    echo "worker $w: ${ms} ms of CPU in the second after the first failed accept"
    ((ms < 50)) || spin+=" $w (${ms} ms)"
done
echo "accept failures logged: $(grep -c 'accept4\?() failed' "$tmp/error.log")"
[ -z "$spin" ] || fail "workers spinning on the dead stack:$spin"

kill -QUIT "$master"
nc_pid_wait_gone "$master" 20
for w in $workers; do nc_pid_wait_gone "$w" 10; done
echo "ok: kill -QUIT ended the master and its workers"
echo "PASS: test_share_nginxorphan"
