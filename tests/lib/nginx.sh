# tests/lib/nginx.sh — nginx in its stock shape (daemon, a master and 2 workers) for the
# shared-stack tests; sourced after netns.sh.

# nc_nginx_conf DIR PORT CONNS HTTP_LINES: DIR/nginx.conf serving DIR/www on NC_NETCORE_IP:PORT,
# CONNS connections per worker, HTTP_LINES (logging, sendfile...) inside http {}. Pid, logs
# and temp paths in DIR, which the workers (user nobody) must be able to read.
nc_nginx_conf() {
    local dir=$1 port=$2 conns=$3 http=$4
    cat >"$dir/nginx.conf" <<CONF
daemon on;
master_process on;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections $conns; }
http {
$http
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server { listen $NC_NETCORE_IP:$port; root $dir/www; }
}
CONF
}

# nc_nginx_stop DIR: the master of DIR/nginx.pid and its workers killed by pid (at exit,
# should a test fail half way).
nc_nginx_stop() {
    local m
    m=$(cat "$1/nginx.pid" 2>/dev/null) || return 0
    [ -n "$m" ] || return 0
    kill -KILL $(pgrep -P "$m") 2>/dev/null
    kill -KILL "$m" 2>/dev/null
}
