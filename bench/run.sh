#!/bin/bash
# bench/run.sh — netcore against the kernel's own stack; `netcore bench` runs it (as root).
#
#   bench/run.sh [--quick] [--keep-logs]
#
# Two sandboxes, made here and removed on exit (also on failure and on INT/TERM/HUP):
#   netcore  namespace ncb-tap, TAP nctap0 at 198.18.0.1/24 ('netcore up'); the peer runs there
#            on the kernel stack, the client runs under 'netcore run' as 198.18.0.2.
#   kernel   namespaces ncb-k1 (peer, 198.18.1.1/24) and ncb-k2 (client, 198.18.1.2/24) joined
#            by a veth pair; the same client and settings, no shim.
# Every peer is the kernel stack; only the client side changes. Workloads, once per stack:
#   tcp_bulk_up    iperf3 -c (client sends): receiver Gbit/s; the client's user+sys CPU seconds
#                  per GB sent (/usr/bin/time; on netcore that includes the netstack thread, the
#                  peer's CPU is not counted on either stack). Over veth the kernel does much
#                  of the receiving side's work in the sender's softirq, charged to whichever
#                  process sends: so the kernel's figure flatters it for tcp_bulk_down.
#   tcp_bulk_down  iperf3 -c -R (peer sends): the same figures, the client receiving
#   tcp_latency    sockperf ping-pong over TCP, 64-byte messages: round-trip p50/p99/p99.9 (us,
#                  --full-rtt; sockperf's default, and DESIGN.md's figures, are half of that).
#                  Unpinned: where the scheduler puts client and peer (same core or not) moves
#                  the kernel's p50 between ~13 and ~60 us on a 2-core VM; see DESIGN.md.
#   udp_latency    the same over UDP
#   tcp_connrate   bench/connrate client: connect, 1-byte request and response, close (conn/s;
#                  the client waits for the server's FIN first, so TIME-WAIT stays server-side)
#   idle_conn_mem  bench/connrate hold: 1000 idle established connections; bytes per connection
#                  in the client process (user_per_conn), in kernel socket objects (kernel
#                  stack only: kernel_per_conn), and the two together (total_per_conn)
#   nginx          the other way round: nginx as the server under test, in its stock shape
#                  (daemon on, master_process on, 2 workers; on netcore the workers share the
#                  master's stack, issue 14), wrk -t2 -c32 on the kernel stack fetching a 1 KiB
#                  file for the run's seconds: requests/s and p99 latency (wrk --latency). On
#                  netcore nginx runs in ncb-tap at 198.18.0.2 and wrk beside the TAP's kernel
#                  side; on the kernel nginx runs in ncb-k1 and wrk in ncb-k2.
# Output: bench/results/<UTC time>.csv and latest.csv (workload,stack,metric,value,unit),
# latest.png (netcore/kernel ratio per metric, bench/plot.gp) and a table on stdout. Exit 1 when
# any expected figure is missing (each is named), 2 on bad usage or a missing tool.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
TOP=$(dirname "$BENCH_DIR")
# Benchmarked programs publish no stats socket (netcore stat): nothing left behind by the
# servers the run kills, and one fd and event fewer in what is measured.
export NETCORE_STAT=off
NETCORE=$TOP/netcore
RESULTS=$BENCH_DIR/results

NS_TAP=ncb-tap
NS_K1=ncb-k1
NS_K2=ncb-k2
VETH1=ncbv1
VETH2=ncbv2
TAP_PEER_IP=198.18.0.1
VETH_PEER_IP=198.18.1.1
VETH_CLIENT_IP=198.18.1.2

PORT_IPERF=5201
PORT_SP_TCP=11111
PORT_SP_UDP=11112
PORT_CONNRATE=7001
PORT_SINK=7002
PORT_NGINX=8081
NETCORE_SERVER_IP=198.18.0.2   # the address of the first process (or shared stack) on netcore
HOLD_N=1000
MSG_SIZE=64

usage() {
    cat <<EOF
usage: netcore bench [--quick] [--keep-logs]

Measures netcore against the kernel's own TCP/IP stack on this machine and writes
bench/results/<UTC time>.csv, latest.csv and latest.png (netcore/kernel ratios).
  --quick      2-second runs instead of 5: about 45 s in all (the full run: about 80 s)
  --keep-logs  keep every tool's output in bench/results/<UTC time>.logs/ (by default only
               the output of failed runs is kept there)
Needs root, iperf3, sockperf, nginx, wrk, python3, gnuplot and /usr/bin/time (./netcore
deps).
EOF
}

QUICK=0
KEEP_LOGS=0
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --quick) QUICK=1; shift ;;
        --keep-logs) KEEP_LOGS=1; shift ;;
        *) echo "netcore bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

die() { echo "netcore bench: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (creates network namespaces, a TAP and a veth pair)"
for tool in iperf3 sockperf nginx wrk python3 gnuplot ip ss timeout gcc taskset flock; do
    command -v "$tool" >/dev/null || die "$tool not found: run ./netcore deps"
done
[ -x /usr/bin/time ] || die "/usr/bin/time not found (Debian package 'time')"
# The library 'netcore run' will preload (it takes NETCORE_LIBDIR first, as here).
lib=${NETCORE_LIBDIR:-$TOP/preload/.libs}/libnetcore.so
[ -f "$lib" ] || die "$lib not built: run ./netcore build"

if [ "$QUICK" -eq 1 ]; then SECS=2; else SECS=5; fi
LIMIT=$((SECS + 30))   # wall-clock cap for one client run: a hang fails, it does not block

# ------------------------------------------------------------------------------------ connrate

# The automake build (bench/bench.am) puts the program at bench/connrate; without it, or when
# it is older than its source, build it here with the project's warning flags.
CONNRATE=$BENCH_DIR/connrate
if [ ! -x "$CONNRATE" ] || [ "$BENCH_DIR/connrate.c" -nt "$CONNRATE" ]; then
    echo "bench: building bench/connrate"
    gcc -O2 -Wall -Wextra -Werror -std=gnu11 -o "$CONNRATE" "$BENCH_DIR/connrate.c" ||
        die "cannot build bench/connrate"
fi

# ------------------------------------------------------------------------------------- cleanup

WORK=$(mktemp -d /tmp/netcore-bench.XXXXXX)
# nginx's workers run as nobody and read their files below WORK: let them through.
chmod 711 "$WORK"
# The shared stacks' rendezvous (issue 14) in a directory of this run's own: the nginx
# workload's keeper is found there and stopped at exit if it is still running.
export NETCORE_RUNDIR=$WORK/run
mkdir -m 700 "$NETCORE_RUNDIR"
SERVERS=()      # peers started here, killed by pid at exit
NGINX_PIDFILES=()  # pid files of nginx masters started here (daemons: not our children)
CLIENT=         # the client run in progress, if any
CLEANED=0

stop_pid() {  # stop_pid PID: SIGTERM, 2 s grace, SIGKILL, reap
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true   # its status is the signal's, not a failure of ours
}

cleanup() {
    local rc=$? pid ns
    [ "$CLEANED" -eq 0 ] || exit "$rc"
    CLEANED=1
    set +e
    [ -n "$CLIENT" ] && stop_pid "$CLIENT"
    for pid in "${SERVERS[@]}"; do
        stop_pid "$pid"
    done
    for f in "${NGINX_PIDFILES[@]}"; do
        kill_nginx "$f"
    done
    kill_stack_holders
    for ns in "$NS_TAP" "$NS_K1" "$NS_K2"; do
        ip netns del "$ns" 2>/dev/null
    done
    if [ "$KEEP_LOGS" -eq 1 ] && [ -n "${STAMP:-}" ]; then
        mkdir -p "$RESULTS/$STAMP.logs" && cp "$WORK"/* "$RESULTS/$STAMP.logs/"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# kill_nginx PIDFILE: SIGKILL an nginx master (by the pid it wrote) and its workers.
kill_nginx() {
    local m
    m=$(cat "$1" 2>/dev/null) || return 0
    [ -n "$m" ] || return 0
    pkill -KILL -P "$m" 2>/dev/null
    kill -KILL "$m" 2>/dev/null
}

# stack_holders: pids with this run's shared-stack rendezvous lock open (its driver/keeper).
stack_holders() {
    local lock fd pid
    for lock in "$NETCORE_RUNDIR"/stack-*.lock; do
        [ -e "$lock" ] || continue
        for fd in /proc/[0-9]*/fd/*; do
            [ "$(readlink "$fd" 2>/dev/null)" = "$lock" ] || continue
            pid=${fd#/proc/}
            echo "${pid%%/*}"
        done
    done | sort -un
}

kill_stack_holders() {
    local pid
    for pid in $(stack_holders); do
        kill -KILL "$pid" 2>/dev/null
    done
}

# -------------------------------------------------------------------------------------- setup

ns_alive() { ip -n "$1" link show lo >/dev/null 2>&1; }

# Leftovers of an earlier run that died without its trap (these names are ours alone).
for ns in "$NS_TAP" "$NS_K1" "$NS_K2"; do
    if ip netns list 2>/dev/null | grep -qw "^$ns"; then
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ') || pids=
        [ -z "${pids// /}" ] ||
            die "namespace $ns exists with processes in it (pids $pids): another bench running?"
        ip netns del "$ns"
    fi
done

"$NETCORE" up --ns "$NS_TAP" >"$WORK/up.log" 2>&1 ||
    { cat "$WORK/up.log" >&2; die "netcore up --ns $NS_TAP failed"; }

setup_veth() {
    ip netns add "$NS_K1" && ip netns add "$NS_K2" &&
    ip link add "$VETH1" netns "$NS_K1" type veth peer name "$VETH2" netns "$NS_K2" &&
    ip -n "$NS_K1" addr add "$VETH_PEER_IP/24" dev "$VETH1" &&
    ip -n "$NS_K2" addr add "$VETH_CLIENT_IP/24" dev "$VETH2" &&
    ip -n "$NS_K1" link set lo up && ip -n "$NS_K2" link set lo up &&
    ip -n "$NS_K1" link set "$VETH1" up && ip -n "$NS_K2" link set "$VETH2" up
}
setup_veth || die "cannot make namespaces $NS_K1/$NS_K2 with veth $VETH1/$VETH2"

# Stack-specific halves of every workload.
peer_ns() { if [ "$1" = netcore ]; then echo "$NS_TAP"; else echo "$NS_K1"; fi; }
peer_ip() { if [ "$1" = netcore ]; then echo "$TAP_PEER_IP"; else echo "$VETH_PEER_IP"; fi; }

# exec_client STACK CMD...: exec CMD as the client on STACK, capped at LIMIT seconds. Call it
# in a subshell of its own: it replaces that shell, so the subshell's pid is timeout's, and a
# signal to that pid reaches CMD.
exec_client() {
    local stack=$1
    shift
    if [ "$stack" = netcore ]; then
        exec timeout -k 5 "$LIMIT" "$NETCORE" run --ns "$NS_TAP" -- "$@"
    else
        exec timeout -k 5 "$LIMIT" ip netns exec "$NS_K2" "$@"
    fi
}

# run_client OUT STACK CMD...: exec_client in the background (so that INT and TERM reach the
# trap at once), stdout to OUT, stderr to OUT.err; returns its exit status.
run_client() {
    local out=$1 rc=0
    shift
    exec_client "$@" >"$out" 2>"$out.err" &
    CLIENT=$!
    wait "$CLIENT" || rc=$?
    CLIENT=
    return "$rc"
}

# start_peer STACK t|u PORT LOG CMD...: CMD in STACK's peer namespace on the kernel stack, in
# the background; waits until a socket listens on PORT. Its pid is the last of SERVERS.
start_peer() {
    local stack=$1 proto=$2 port=$3 log=$4 ns i
    shift 4
    ns=$(peer_ns "$stack")
    ip netns exec "$ns" "$@" >"$log" 2>&1 &
    SERVERS+=("$!")
    for ((i = 0; i < 100; i++)); do
        [ -n "$(ip netns exec "$ns" ss -Hln"$proto" "sport = :$port" 2>/dev/null)" ] &&
            return 0
        kill -0 "${SERVERS[-1]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "bench: peer '$*' in $ns did not listen on port $port:" >&2
    tail -n 5 "$log" >&2
    return 1
}

stop_peers() {
    local pid
    for pid in "${SERVERS[@]}"; do
        stop_pid "$pid"
    done
    SERVERS=()
}

# ------------------------------------------------------------------------------------ results

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS"
CSV=$WORK/results.csv
echo 'workload,stack,metric,value,unit' >"$CSV"
FAILED=()

record() {  # record WORKLOAD STACK METRIC VALUE UNIT
    echo "$1,$2,$3,$4,$5" >>"$CSV"
}

# progress WORKLOAD STACK: the start of the progress line; finished by ok or failed.
progress() { printf 'bench: %-14s %-7s ... ' "$1" "$2"; }
ok() { echo "$*"; }
failed() {  # failed WHAT OUT: OUT and OUT.err from run_client are shown and kept
    local f
    echo "FAILED"
    FAILED+=("$1")
    mkdir -p "$RESULTS/$STAMP.logs"
    for f in "$2" "$2.err"; do
        [ -s "$f" ] || continue
        echo "  --- last lines of $(basename "$f"):"
        tail -n 8 "$f" | sed 's/^/  | /'
        cp "$f" "$RESULTS/$STAMP.logs/"
    done
}

# iperf3_figures JSON: prints "GBIT BYTES" (receiver Gbit/s, bytes the sender sent), or fails.
iperf3_figures() {
    python3 - "$1" <<'EOF'
import json, sys
try:
    with open(sys.argv[1]) as f:
        end = json.load(f)["end"]
    print("%.3f %d" % (end["sum_received"]["bits_per_second"] / 1e9, end["sum_sent"]["bytes"]))
except Exception as e:
    sys.exit("no iperf3 result in %s: %s" % (sys.argv[1], e))
EOF
}

# ---------------------------------------------------------------------------------- workloads

bench_bulk() {  # bench_bulk STACK up|down
    local stack=$1 dir=$2 w=tcp_bulk_$2 ip json tfile figs gbit bytes cpu rflag=()
    ip=$(peer_ip "$stack")
    json=$WORK/$w-$stack.json
    tfile=$WORK/$w-$stack.time
    [ "$dir" = down ] && rflag=(-R)
    progress "$w" "$stack"
    if run_client "$json" "$stack" /usr/bin/time -f '%e %U %S' -o "$tfile" \
            iperf3 -c "$ip" -p "$PORT_IPERF" -t "$SECS" -J "${rflag[@]}" &&
       figs=$(iperf3_figures "$json" 2>>"$json.err"); then
        read -r gbit bytes <<<"$figs"
        # CPU seconds per GB moved: (user + sys) / (bytes / 1e9).
        cpu=$(awk -v b="$bytes" '{ if (b > 0) printf "%.3f", ($2 + $3) / (b / 1e9) }' "$tfile")
        record "$w" "$stack" throughput "$gbit" Gbit/s
        if [ -n "$cpu" ]; then
            record "$w" "$stack" cpu_per_gb "$cpu" s/GB
            ok "$gbit Gbit/s, $cpu CPU s/GB"
        else
            ok "$gbit Gbit/s (no CPU time)"
        fi
    else
        failed "$w $stack" "$json"
    fi
}

bench_latency() {  # bench_latency STACK tcp|udp
    local stack=$1 proto=$2 w=$2_latency ip log port figs tflag=()
    ip=$(peer_ip "$stack")
    log=$WORK/$w-$stack.log
    port=$PORT_SP_UDP
    if [ "$proto" = tcp ]; then
        port=$PORT_SP_TCP
        tflag=(--tcp)
    fi
    progress "$w" "$stack"
    # Client on CPU 0, peer on CPU 1, for both stacks: a cross-core wake-up costs tens of
    # microseconds on this kind of VM, and unpinned runs land either way at random.
    if run_client "$log" "$stack" taskset -c 0 sockperf pp "${tflag[@]}" -i "$ip" -p "$port" \
            -t "$SECS" -m "$MSG_SIZE" --full-rtt &&
       figs=$(awk '/percentile 50\.000 =/ { p50 = $NF } /percentile 99\.000 =/ { p99 = $NF }
                   /percentile 99\.900 =/ { p999 = $NF }
                   END { if (p50 != "" && p99 != "" && p999 != "") print p50, p99, p999
                         else exit 1 }' "$log" "$log.err"); then
        read -r p50 p99 p999 <<<"$figs"
        record "$w" "$stack" rtt_p50 "$p50" us
        record "$w" "$stack" rtt_p99 "$p99" us
        record "$w" "$stack" rtt_p99.9 "$p999" us
        ok "RTT p50 $p50 us, p99 $p99 us, p99.9 $p999 us"
    else
        failed "$w $stack" "$log"
    fi
}

bench_connrate() {  # bench_connrate STACK
    local stack=$1 w=tcp_connrate ip log rc=0 rate
    ip=$(peer_ip "$stack")
    log=$WORK/$w-$stack.log
    progress "$w" "$stack"
    run_client "$log" "$stack" "$CONNRATE" client "$ip" "$PORT_CONNRATE" "$SECS" || rc=$?
    rate=$(sed -n 's/^conns_per_sec=\([0-9.]*\) .*/\1/p' "$log")
    # Exit 3: out of ephemeral ports (EADDRNOTAVAIL); the rate up to then still stands.
    if { [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ]; } && [ -n "$rate" ]; then
        record "$w" "$stack" rate "$rate" conn/s
        if [ "$rc" -eq 3 ]; then
            ok "$rate conn/s (stopped early: $(grep -m1 'connrate:' "$log.err"))"
        else
            ok "$rate conn/s"
        fi
    else
        failed "$w $stack" "$log"
    fi
}

bench_hold() {  # bench_hold STACK
    local stack=$1 w=idle_conn_mem log line rss slab mem user kern total
    log=$WORK/$w-$stack.log
    progress "$w" "$stack"
    # netcore's socket table must have room for HOLD_N sockets and the warm-up one.
    if NETCORE_MAX_SOCKETS=$((HOLD_N + 64)) run_client "$log" "$stack" \
            "$CONNRATE" hold "$(peer_ip "$stack")" "$PORT_SINK" "$HOLD_N" &&
       line=$(grep -m1 '^connections=' "$log"); then
        rss=$(sed -n 's/.* rss_delta=\(-*[0-9]*\).*/\1/p' <<<"$line")
        slab=$(sed -n 's/.* slab_delta=\(-*[0-9]*\).*/\1/p' <<<"$line")
        mem=$(sed -n 's/.* tcp_mem_delta=\(-*[0-9]*\).*/\1/p' <<<"$line")
        user=$((rss / HOLD_N))
        record "$w" "$stack" user_per_conn "$user" B
        if [ "$stack" = kernel ] && [ -n "$slab" ] && [ -n "$mem" ]; then
            # Both ends are kernel sockets here: half the slab growth is the client's. The
            # TCP buffer memory (sockstat) of idle connections is the client's and the peer's
            # too, but it is near 0 and cannot be split: all of it is charged to the client.
            kern=$(((slab / 2 + mem) / HOLD_N))
            total=$((user + kern))
            record "$w" "$stack" kernel_per_conn "$kern" B
            record "$w" "$stack" total_per_conn "$total" B
            ok "$user B user + $kern B kernel = $total B per connection"
        elif [ "$stack" = netcore ]; then
            # netcore's sockets are memory in the process; the kernel holds only an eventfd
            # per socket (its file, a few hundred bytes, not counted on either stack).
            record "$w" "$stack" total_per_conn "$user" B
            ok "$user B per connection, all in the process (kernel slab +$((slab / HOLD_N))" \
               "B/conn: the peer's sockets)"
        else
            failed "$w $stack (no /proc/slabinfo figures)" "$log"
        fi
    else
        failed "$w $stack" "$log"
    fi
}

# gone PID SECS: wait until PID (a daemon, not our child) is gone or a zombie; 1 after SECS.
gone() {
    local end=$((SECONDS + $2)) st
    while ((SECONDS < end)); do
        st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
        [[ ${st##*) } == Z\ * ]] && return 0
        sleep 0.02
    done
    return 1
}

# wrk_figures OUT: prints "REQS_PER_S P99_US SOCKET_ERRORS" from wrk --latency output, or fails.
wrk_figures() {
    awk '/^Requests\/sec:/ { rps = $2 }
         $1 == "99%" { v = $2; u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                       f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : -1
                       if (f > 0) p99 = sprintf("%.1f", v * f) }
         /Socket errors:/ { errs = $0; sub(/^ *Socket errors: */, "", errs); gsub(/ /, "", errs) }
         END { if (rps == "" || p99 == "") exit 1; print rps, p99, (errs == "" ? "none" : errs) }' "$1"
}

bench_nginx() {  # bench_nginx STACK: nginx (2 workers, daemon) as the server, wrk as client
    local stack=$1 w=nginx dir=$WORK/nginx-$1 ip srv_ns cli_ns log rc=0 master figs rps p99 errs
    if [ "$stack" = netcore ]; then
        ip=$NETCORE_SERVER_IP srv_ns=$NS_TAP cli_ns=$NS_TAP
    else
        ip=$VETH_PEER_IP srv_ns=$NS_K1 cli_ns=$NS_K2
    fi
    log=$WORK/$w-$stack.log
    mkdir -p "$dir/www"
    head -c 1024 /dev/urandom >"$dir/www/1k.bin"
    chmod -R a+rX "$dir"
    cat >"$dir/nginx.conf" <<CONF
daemon on;
master_process on;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    sendfile on;
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server { listen $ip:$PORT_NGINX; root $dir/www; }
}
CONF
    NGINX_PIDFILES+=("$dir/nginx.pid")
    progress "$w" "$stack"
    # The daemon's start returns once it listens (its parent exits after the listen).
    if [ "$stack" = netcore ]; then
        timeout -k 5 20 "$NETCORE" run --ns "$srv_ns" -- nginx -p "$dir" -c "$dir/nginx.conf" \
            >"$log.start" 2>&1 || rc=$?
    else
        timeout -k 5 20 ip netns exec "$srv_ns" nginx -p "$dir" -c "$dir/nginx.conf" \
            >"$log.start" 2>&1 || rc=$?
    fi
    master=$(cat "$dir/nginx.pid" 2>/dev/null) || master=
    if [ "$rc" -ne 0 ] || [ -z "$master" ]; then
        cat "$log.start" "$dir/error.log" >"$log.err" 2>/dev/null
        failed "$w $stack (nginx did not start: exit $rc)" "$log"
        return 0
    fi
    ( exec timeout -k 5 "$LIMIT" ip netns exec "$cli_ns" wrk -t2 -c32 -d"${SECS}s" --latency \
        "http://$ip:$PORT_NGINX/1k.bin" ) >"$log" 2>"$log.err" &
    CLIENT=$!
    rc=0
    wait "$CLIENT" || rc=$?
    CLIENT=
    if [ "$rc" -eq 0 ] && figs=$(wrk_figures "$log"); then
        read -r rps p99 errs <<<"$figs"
        record "$w" "$stack" requests "$rps" req/s
        record "$w" "$stack" lat_p99 "$p99" us
        if [ "$errs" = none ]; then ok "$rps req/s, p99 $p99 us"
        else ok "$rps req/s, p99 $p99 us (socket errors: $errs)"; fi
    else
        failed "$w $stack" "$log"
    fi
    # Graceful stop; the master, its workers and (on netcore) the stack's keeper go.
    kill -QUIT "$master" 2>/dev/null
    gone "$master" 10 || kill_nginx "$dir/nginx.pid"
    if [ "$stack" = netcore ]; then
        local lock
        for lock in "$NETCORE_RUNDIR"/stack-*.lock; do
            [ -e "$lock" ] || continue
            flock -w 10 "$lock" true || { echo "bench: the nginx stack's keeper did not exit" >&2
                                          kill_stack_holders; }
        done
    fi
}

run_stack() {  # run_stack STACK: every workload on STACK
    local stack=$1 ip
    ip=$(peer_ip "$stack")
    if ! { start_peer "$stack" t "$PORT_IPERF" "$WORK/iperf3-s-$stack.log" \
               iperf3 -s -B "$ip" -p "$PORT_IPERF" &&
           start_peer "$stack" t "$PORT_SP_TCP" "$WORK/sockperf-tcp-$stack.log" \
               taskset -c 1 sockperf sr --tcp -i "$ip" -p "$PORT_SP_TCP" &&
           start_peer "$stack" u "$PORT_SP_UDP" "$WORK/sockperf-udp-$stack.log" \
               taskset -c 1 sockperf sr -i "$ip" -p "$PORT_SP_UDP" &&
           start_peer "$stack" t "$PORT_CONNRATE" "$WORK/connrate-s-$stack.log" \
               "$CONNRATE" server "$PORT_CONNRATE" &&
           start_peer "$stack" t "$PORT_SINK" "$WORK/sink-$stack.log" \
               "$CONNRATE" sink "$PORT_SINK"; }; then
        FAILED+=("peers for $stack")
        stop_peers
        return 0
    fi
    bench_bulk "$stack" up
    bench_bulk "$stack" down
    bench_latency "$stack" tcp
    bench_latency "$stack" udp
    bench_connrate "$stack"
    bench_hold "$stack"
    stop_peers
    bench_nginx "$stack"
}

T0=$SECONDS
echo "bench: $([ "$QUICK" -eq 1 ] && echo quick || echo full) run, ${SECS} s per timed" \
     "workload; netcore in $NS_TAP ($TAP_PEER_IP), kernel over veth $NS_K1/$NS_K2"
run_stack netcore
run_stack kernel

# Every (workload, stack, metric) expected; a missing one is a failure, named.
EXPECTED="tcp_bulk_up:throughput tcp_bulk_up:cpu_per_gb tcp_bulk_down:throughput
tcp_bulk_down:cpu_per_gb tcp_latency:rtt_p50 tcp_latency:rtt_p99 tcp_latency:rtt_p99.9
udp_latency:rtt_p50 udp_latency:rtt_p99 udp_latency:rtt_p99.9 tcp_connrate:rate
idle_conn_mem:user_per_conn idle_conn_mem:total_per_conn nginx:requests nginx:lat_p99"
EXPECTED_KERNEL_ONLY=idle_conn_mem:kernel_per_conn
MISSING=()
for stack in netcore kernel; do
    wms=$EXPECTED
    # Kernel socket memory exists only on the kernel stack (netcore: see bench_hold).
    [ "$stack" = kernel ] && wms+=" $EXPECTED_KERNEL_ONLY"
    for wm in $wms; do
        grep -q "^${wm%%:*},$stack,${wm#*:}," "$CSV" || MISSING+=("${wm%%:*} $stack ${wm#*:}")
    done
done

cp "$CSV" "$RESULTS/$STAMP.csv"
cp "$CSV" "$RESULTS/latest.csv"

# ------------------------------------------------------------------------------ table, chart

# Table rows and chart data: one line per (workload, metric) with both stacks. For a metric
# in Gbit/s, conn/s or req/s a ratio above 1 favours netcore; for the others (us, B, s/GB) below 1.
# Table order: EXPECTED, with kernel_per_conn between user_per_conn and total_per_conn.
total=idle_conn_mem:total_per_conn
ROW_ORDER=${EXPECTED/$total/$EXPECTED_KERNEL_ONLY $total}
awk -F, -v data="$WORK/ratios.dat" -v expected="$ROW_ORDER" '
    BEGIN {  # rows in the order of EXPECTED, then anything else as it comes
        ne = split(expected, e, /[ \n]+/)
        for (i = 1; i <= ne; i++) { sub(/:/, ",", e[i]); rank[e[i]] = i }
    }
    NR == 1 { next }
    {
        k = $1 "," $3
        if (!(k in unit)) { keys[++n] = k; unit[k] = $5 }
        v[k, $2] = $4
    }
    END {
        # Insertion sort of keys by rank (unknown keys last, in arrival order).
        for (i = 1; i <= n; i++) {
            pos[i] = (keys[i] in rank) ? rank[keys[i]] : 1000 + i
        }
        for (i = 2; i <= n; i++) {
            for (j = i; j > 1 && pos[j - 1] > pos[j]; j--) {
                t = pos[j]; pos[j] = pos[j - 1]; pos[j - 1] = t
                t = keys[j]; keys[j] = keys[j - 1]; keys[j - 1] = t
            }
        }
        printf "\n%-14s %-15s %-7s %12s %12s %8s\n", "workload", "metric", "unit",
               "netcore", "kernel", "ratio"
        for (i = 1; i <= n; i++) {
            k = keys[i]
            split(k, p, ",")
            nc = ((k, "netcore") in v) ? v[k, "netcore"] : "-"
            kn = ((k, "kernel") in v) ? v[k, "kernel"] : "-"
            r = "-"
            # The kernel keeps socket memory out of the process: that ratio means nothing.
            if (p[2] != "user_per_conn" && nc != "-" && kn != "-" && kn + 0 > 0 && nc + 0 > 0) {
                r = sprintf("%.2f", nc / kn)
                higher = (unit[k] == "Gbit/s" || unit[k] == "conn/s" || unit[k] == "req/s")
                better = higher ? (nc + 0 >= kn + 0) : (nc + 0 <= kn + 0)
                printf "\"%s\\n%s\" %.4f %d\n", p[1], p[2], nc / kn, better > data
            }
            printf "%-14s %-15s %-7s %12s %12s %8s\n", p[1], p[2], unit[k], nc, kn, r
        }
    }' "$CSV"

if [ -s "$WORK/ratios.dat" ]; then
    if gnuplot -e "datafile='$WORK/ratios.dat'; outfile='$RESULTS/latest.png'; \
                   subtitle='$STAMP$([ "$QUICK" -eq 1 ] && echo ' (quick)')'" \
               "$BENCH_DIR/plot.gp" 2>"$WORK/gnuplot.log"; then
        cp "$RESULTS/latest.png" "$RESULTS/$STAMP.png"
    else
        cat "$WORK/gnuplot.log" >&2
        FAILED+=("chart (gnuplot)")
    fi
fi

echo
echo "bench: results in bench/results/$STAMP.csv (and latest.csv, latest.png);" \
     "$((SECONDS - T0)) s"
if [ ${#MISSING[@]} -gt 0 ] || [ ${#FAILED[@]} -gt 0 ]; then
    for f in "${FAILED[@]}"; do echo "bench: FAILED: $f" >&2; done
    for f in "${MISSING[@]}"; do echo "bench: no figure for: $f" >&2; done
    if [ -d "$RESULTS/$STAMP.logs" ]; then
        echo "bench: logs in bench/results/$STAMP.logs/" >&2
    fi
    exit 1
fi
