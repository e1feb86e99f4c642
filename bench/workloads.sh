# bench/workloads.sh — the workloads of `netcore bench`, on the topology that is up
# shellcheck shell=bash
# (bench/topo.sh: NC_* for the netcore client, K_* for the kernel one); sourced by bench/run.sh,
# whose globals (WORK, SECS, LIMIT, ports, CLIENT, SERVERS, ...) they use. Each workload runs
# once per stack and records its figures (record), or names itself in FAILED.

# Stack-specific halves of every workload.
peer_ns() { if [ "$1" = netcore ]; then echo "$NC_PEER_NS"; else echo "$K_PEER_NS"; fi; }
peer_ip() { if [ "$1" = netcore ]; then echo "$NC_PEER_IP"; else echo "$K_PEER_IP"; fi; }

# exec_client STACK CMD...: exec CMD as the client on STACK, capped at LIMIT seconds. Call it
# in a subshell of its own: it replaces that shell, so the subshell's pid is timeout's, and a
# signal to that pid reaches CMD.
exec_client() {
    local stack=$1
    shift
    if [ "$stack" = netcore ]; then
        exec env ${NC_ENV[@]+"${NC_ENV[@]}"} timeout -k 5 "$LIMIT" \
            "$NETCORE" run --ns "$NC_NS" -- "$@"
    else
        exec timeout -k 5 "$LIMIT" ip netns exec "$K_NS" "$@"
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

record() {  # record WORKLOAD STACK METRIC VALUE UNIT: a figure of this round and topology
    echo "$ROUND,$TOPO,$1,$2,$3,$4,$5" >>"$RAW"
}

# progress WORKLOAD STACK: the start of the progress line; finished by ok or failed.
progress() {
    local r=
    [ "$REPEAT" -eq 1 ] || r="$ROUND/$REPEAT "
    printf 'bench: %s%-8s %-20s %-7s ... ' "$r" "$TOPO" "$1" "$2"
}
ok() { echo "$*"; }
failed() {  # failed WHAT OUT: OUT and OUT.err from run_client are shown and kept
    local f
    echo "FAILED"
    FAILED+=("$TOPO: $1$([ "$REPEAT" -eq 1 ] || echo " (round $ROUND)")")
    mkdir -p "$RESULTS/$STAMP.logs"
    for f in "$2" "$2.err"; do
        [ -s "$f" ] || continue
        echo "  --- last lines of $(basename "$f"):"
        tail -n 8 "$f" | sed 's/^/  | /'
        cp "$f" "$RESULTS/$STAMP.logs/$([ "$REPEAT" -eq 1 ] || echo "r$ROUND-")$TOPO-$(basename "$f")"
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

bench_bulk() {  # bench_bulk STACK up|down
    local stack=$1 dir=$2 w=tcp_bulk_$2 ip json tfile figs gbit bytes cpu rflag=()
    ip=$(peer_ip "$stack")
    json=$WORK/$TOPO-$w-$stack.json
    tfile=$WORK/$TOPO-$w-$stack.time
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

# bench_latency STACK tcp|udp pinned|unpinned: sockperf ping-pong against the peer started for
# that case (run_stack).
#   pinned    client on CPU 0, peer on CPU 1, for both stacks (netcore's netstack thread is
#             in the client process, so on CPU 0 too): client and peer never queue for one
#             core, and every run measures the same placement. A cross-core wake-up costs tens
#             of microseconds on this kind of VM (its idle cores halt), so this is the dearer
#             placement, but the stable one.
#   unpinned  where the scheduler puts them, as a program gets by default: both on one core
#             (cheap wake-ups: the kernel's p50 near 13 us) or on two (near 60 us), differing
#             from run to run. Reported because that is what users see.
bench_latency() {
    local stack=$1 proto=$2 pin=$3 w ip log tfile port figs cpu tflag=() pinning=()
    w=$2_latency_$3
    ip=$(peer_ip "$stack")
    log=$WORK/$TOPO-$w-$stack.log
    tfile=$WORK/$TOPO-$w-$stack.time
    if [ "$proto" = tcp ]; then
        tflag=(--tcp)
        if [ "$pin" = pinned ]; then port=$PORT_SP_TCP; else port=$PORT_SP_TCP_FREE; fi
    else
        port=$PORT_SP_UDP   # UDP is measured pinned only
    fi
    [ "$pin" = pinned ] && pinning=(taskset -c 0)
    progress "$w" "$stack"
    if run_client "$log" "$stack" /usr/bin/time -f '%e %U %S' -o "$tfile" \
            ${pinning[@]+"${pinning[@]}"} sockperf pp "${tflag[@]}" \
            -i "$ip" -p "$port" -t "$SECS" -m "$MSG_SIZE" --full-rtt &&
       figs=$(awk '/percentile 50\.000 =/ { p50 = $NF } /percentile 99\.000 =/ { p99 = $NF }
                   /percentile 99\.900 =/ { p999 = $NF }
                   END { if (p50 != "" && p99 != "" && p999 != "") print p50, p99, p999
                         else exit 1 }' "$log" "$log.err"); then
        read -r p50 p99 p999 <<<"$figs"
        record "$w" "$stack" rtt_p50 "$p50" us
        record "$w" "$stack" rtt_p99 "$p99" us
        record "$w" "$stack" rtt_p99.9 "$p999" us
        # The client's CPU time (user + sys, every thread: on netcore the netstack thread and
        # any spinning) per round trip of the whole run, warm-up included: what a profile's
        # spin costs (NETCORE_PROFILE).
        cpu=$(awk -v t="$tfile" '/\[Total Run\].*SentMessages=/ {
                  n = $0; sub(/.*SentMessages=/, "", n); sub(/;.*/, "", n)
                  if ((getline line < t) > 0 && n > 0) {
                      split(line, f, " "); printf "%.1f", (f[2] + f[3]) * 1e6 / n } }' \
              "$log" "$log.err")
        [ -n "$cpu" ] && record "$w" "$stack" cpu_per_rt "$cpu" us
        ok "RTT p50 $p50 us, p99 $p99 us, p99.9 $p999 us${cpu:+, $cpu us CPU per round trip}"
    else
        failed "$w $stack" "$log"
    fi
}

bench_connrate() {  # bench_connrate STACK [pinned]: pinned, client on CPU 0, server on CPU 1
    local stack=$1 w=tcp_connrate ip log rc=0 rate port=$PORT_CONNRATE pinning=()
    if [ "${2:-}" = pinned ]; then
        w=tcp_connrate_pinned port=$PORT_CONNRATE_PIN pinning=(taskset -c 0)
    fi
    ip=$(peer_ip "$stack")
    log=$WORK/$TOPO-$w-$stack.log
    progress "$w" "$stack"
    run_client "$log" "$stack" ${pinning[@]+"${pinning[@]}"} "$CONNRATE" client "$ip" "$port" \
        "$SECS" || rc=$?
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

# sock_slab_size: bytes of the slab objects of one kernel TCP socket (see bench_hold).
sock_slab_size() {
    awk '$1 == "TCP" || $1 == "sock_inode_cache" { s += $4; n++ }
         END { if (n != 2) exit 1; print s }' /proc/slabinfo
}

bench_hold() {  # bench_hold STACK
    local stack=$1 w=idle_conn_mem log line rss slab mem user kern total
    log=$WORK/$TOPO-$w-$stack.log
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
        if [ "$stack" = kernel ] && kern=$(sock_slab_size); then
            # A kernel TCP socket is an object of the slab cache "TCP" (struct tcp_sock) and
            # one of "sock_inode_cache" (its socket inode); an idle one holds no buffer
            # memory. The sizes come from /proc/slabinfo rather than from its growth across
            # the connects: the caches and sockstat's TCP memory are machine-wide, and other
            # jobs on a shared machine move them by megabytes during the run (the growth,
            # halved for the two ends, is shown as a check).
            total=$((user + kern))
            record "$w" "$stack" kernel_per_conn "$kern" B
            record "$w" "$stack" total_per_conn "$total" B
            ok "$user B user + $kern B kernel = $total B per connection (slab growth:" \
               "$(((${slab:-0} / 2) / HOLD_N)) B, TCP memory $((${mem:-0} / HOLD_N)) B per connection)"
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

# bench_nginx STACK: nginx (2 workers, daemon) as the server, wrk as its client. On netcore
# nginx runs in NC_NS at NETCORE_SIDE_IP and wrk where the netcore client's peers run; on the
# kernel nginx runs where the kernel client's peers run and wrk in K_NS.
bench_nginx() {
    local stack=$1 w=nginx dir ip srv_ns cli_ns log rc=0 master figs rps p99 errs
    dir=$WORK/$TOPO-nginx-$1
    if [ "$stack" = netcore ]; then
        ip=$NETCORE_SIDE_IP srv_ns=$NC_NS cli_ns=$NC_PEER_NS
    else
        ip=$K_PEER_IP srv_ns=$K_PEER_NS cli_ns=$K_NS
    fi
    log=$WORK/$TOPO-$w-$stack.log
    mkdir -p "$dir/www"
    head -c 1024 /dev/urandom >"$dir/www/1k.bin"
    chmod -R a+rX "$dir"
    # The tests' nginx (tests/lib/nginx.sh), on this stack's address, errors only logged.
    nc_nginx_conf "$dir" "$PORT_NGINX" 1024 "    sendfile on;
    access_log off;" "$ip" warn
    NGINX_PIDFILES+=("$dir/nginx.pid")
    progress "$w" "$stack"
    # The daemon's start returns once it listens (its parent exits after the listen).
    if [ "$stack" = netcore ]; then
        env ${NC_ENV[@]+"${NC_ENV[@]}"} timeout -k 5 20 "$NETCORE" run --ns "$srv_ns" -- \
            nginx -p "$dir" -c "$dir/nginx.conf" >"$log.start" 2>&1 || rc=$?
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
    gone "$master" 10 || nc_nginx_stop "$dir"
    if [ "$stack" = netcore ]; then
        local lock
        for lock in "$NETCORE_RUNDIR"/stack-*.lock; do
            [ -e "$lock" ] || continue
            flock -w 10 "$lock" true || { echo "bench: the nginx stack's keeper did not exit" >&2
                                          kill_stack_holders; }
        done
    fi
}

# workload_metrics WORKLOAD STACK: the metrics WORKLOAD records on STACK (what a run must have).
workload_metrics() {
    case $1 in
        tcp_bulk_*) echo throughput cpu_per_gb ;;
        *_latency_*) echo rtt_p50 rtt_p99 rtt_p99.9 cpu_per_rt ;;
        tcp_connrate*) echo rate ;;
        idle_conn_mem)
            # Kernel socket memory exists only on the kernel stack (see bench_hold).
            if [ "$2" = kernel ]; then echo user_per_conn kernel_per_conn total_per_conn
            else echo user_per_conn total_per_conn; fi ;;
        nginx) echo requests lat_p99 ;;
    esac
}

# run_stack STACK WORKLOADS: each of WORKLOADS (a space-separated list, in this order: the
# peers they need start first) on STACK on the topology that is up.
run_stack() {
    local stack=$1 wl=" $2 " ip
    ip=$(peer_ip "$stack")
    if ! { start_peer "$stack" t "$PORT_IPERF" "$WORK/$TOPO-iperf3-s-$stack.log" \
               iperf3 -s -B "$ip" -p "$PORT_IPERF" &&
           start_peer "$stack" t "$PORT_SP_TCP" "$WORK/$TOPO-sockperf-tcp-$stack.log" \
               taskset -c 1 sockperf sr --tcp -i "$ip" -p "$PORT_SP_TCP" &&
           start_peer "$stack" t "$PORT_SP_TCP_FREE" "$WORK/$TOPO-sockperf-tcpfree-$stack.log" \
               sockperf sr --tcp -i "$ip" -p "$PORT_SP_TCP_FREE" &&
           start_peer "$stack" u "$PORT_SP_UDP" "$WORK/$TOPO-sockperf-udp-$stack.log" \
               taskset -c 1 sockperf sr -i "$ip" -p "$PORT_SP_UDP" &&
           start_peer "$stack" t "$PORT_CONNRATE" "$WORK/$TOPO-connrate-s-$stack.log" \
               "$CONNRATE" server "$PORT_CONNRATE" &&
           start_peer "$stack" t "$PORT_CONNRATE_PIN" "$WORK/$TOPO-connrate-sp-$stack.log" \
               taskset -c 1 "$CONNRATE" server "$PORT_CONNRATE_PIN" &&
           start_peer "$stack" t "$PORT_SINK" "$WORK/$TOPO-sink-$stack.log" \
               "$CONNRATE" sink "$PORT_SINK"; }; then
        FAILED+=("$TOPO: peers for $stack")
        stop_peers
        return 0
    fi
    [[ $wl == *" tcp_bulk_up "* ]] && bench_bulk "$stack" up
    [[ $wl == *" tcp_bulk_down "* ]] && bench_bulk "$stack" down
    [[ $wl == *" tcp_latency_pinned "* ]] && bench_latency "$stack" tcp pinned
    [[ $wl == *" tcp_latency_unpinned "* ]] && bench_latency "$stack" tcp unpinned
    [[ $wl == *" udp_latency_pinned "* ]] && bench_latency "$stack" udp pinned
    [[ $wl == *" tcp_connrate "* ]] && bench_connrate "$stack"
    [[ $wl == *" tcp_connrate_pinned "* ]] && bench_connrate "$stack" pinned
    [[ $wl == *" idle_conn_mem "* ]] && bench_hold "$stack"
    stop_peers
    [[ $wl == *" nginx "* ]] && bench_nginx "$stack"
    return 0
}
