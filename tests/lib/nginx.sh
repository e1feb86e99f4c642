# shellcheck shell=bash
# tests/lib/nginx.sh — nginx in its stock shape (daemon, a master and 2 workers) for the
# shared-stack tests and for the nginx workload of `netcore bench` (bench/workloads.sh).

# nc_nginx_conf DIR PORT CONNS HTTP_LINES [ADDR [LOG_LEVEL]]: DIR/nginx.conf serving DIR/www
# on ADDR:PORT (default NC_NETCORE_IP, netcore's side of the tests' TAP), CONNS connections per
# worker, HTTP_LINES (logging, sendfile...) inside http {}, errors logged at LOG_LEVEL (default
# info; the bench says warn, so that no request writes a line). Pid, logs and temp paths in
# DIR, which the workers (user nobody) must be able to read.
nc_nginx_conf() {
    local dir=$1 port=$2 conns=$3 http=$4 addr=${5:-$NC_NETCORE_IP} level=${6:-info}
    cat >"$dir/nginx.conf" <<CONF
daemon on;
master_process on;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log $level;
events { worker_connections $conns; }
http {
$http
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server { listen $addr:$port; root $dir/www; }
}
CONF
}

# nc_nginx_stop DIR_OR_PIDFILE: the master whose pid DIR/nginx.pid (or the pid file given)
# holds and its workers, killed by pid (at exit, should a test or the bench fail half way).
nc_nginx_stop() {
    local m f=$1
    [ -d "$f" ] && f=$f/nginx.pid
    m=$(cat "$f" 2>/dev/null) || return 0
    [ -n "$m" ] || return 0
    # shellcheck disable=SC2046 # one word per pid
    kill -KILL $(pgrep -P "$m") 2>/dev/null
    kill -KILL "$m" 2>/dev/null
}
