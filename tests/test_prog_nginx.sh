#!/bin/bash
# test_prog_nginx.sh — unmodified nginx (Debian's nginx-light, which links sendfile64 and
# serves files with it when "sendfile on": issue 13, where the kernel got an eventfd and the
# response failed with EINVAL) on netcore, in one process (master_process off), serves a
# 24 MiB file to curl on the kernel side: sha256 equal, curl's peer is netcore's address and
# nginx's access log shows the full size sent to the kernel side's address.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

PORT=8030

nc_require_root
for p in nginx curl; do
    command -v "$p" >/dev/null || nc_skip "$p not installed"
done
nm -D "$(command -v nginx)" | grep -qE ' U sendfile64(@|$)' ||
    fail "nginx does not link sendfile64: the test would not test it"
nc_ns_setup

tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
mkdir "$tmp/www"
head -c 24M /dev/urandom >"$tmp/www/big.bin"
cat >"$tmp/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
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
    server { listen $PORT; root $tmp/www; }
}
CONF
# nginx says nothing once it listens; netcore's info log does ("listening on *:PORT").
NETCORE_LOG=info nc_bg_run nginx -p "$tmp" -c "$tmp/nginx.conf" >"$tmp/nginx.out" 2>&1
nc_wait_line "$tmp/nginx.out" "listening on [^ ]*:$PORT\$" "$NC_LAST_PID"

rc=0
out=$(ip netns exec "$NC_NS" curl -sS --max-time 50 -o "$tmp/got.bin" \
    -w '%{http_code} %{remote_ip}' "http://$NC_NETCORE_IP:$PORT/big.bin") || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/error.log" >&2; fail "curl: exit $rc ($out)"; }
[ "$out" = "200 $NC_NETCORE_IP" ] || fail "curl: '$out', want '200 $NC_NETCORE_IP'"
want=$(nc_sha "$tmp/www/big.bin")
got=$(nc_sha "$tmp/got.bin")
[ "$got" = "$want" ] ||
    { cat "$tmp/error.log" >&2; fail "sha256 $got ($(stat -c %s "$tmp/got.bin") bytes), want $want"; }
grep -q "^$NC_KERNEL_IP .*\"GET /big.bin HTTP/1.1\" 200 25165824 " "$tmp/access.log" ||
    { cat "$tmp/access.log" >&2; fail "access log lacks the 24 MiB GET from $NC_KERNEL_IP"; }
! grep -q 'sendfile.*failed' "$tmp/error.log" || fail "nginx: $(grep sendfile "$tmp/error.log")"
echo "nginx on netcore: 24 MiB with sendfile64 to $NC_KERNEL_IP, sha256 ok ($got)"
echo "PASS: test_prog_nginx"
