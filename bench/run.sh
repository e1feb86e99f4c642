#!/bin/bash
# bench/run.sh — netcore against the kernel's own stack; `netcore bench` runs it (as root).
#
#   bench/run.sh [--quick] [--keep-logs] [--topology LIST] [--repeat N]
#
# Three topologies (bench/topo.sh), one after the other, each made here and removed after its
# turn (and on exit, also on failure and on INT/TERM/HUP):
#   sandbox  netcore's TAP at MTU 65000, the peer on its link; kernel: a veth pair
#   direct   the TAP at MTU 1500, the peer on its link; kernel: a veth pair at 1500
#   routed   the TAP at MTU 1500, the server one router hop away over a 1500 link; kernel: a
#            client in its own namespace crossing the same router to the same server
# Every peer is the kernel stack; only the client side changes. On each topology the
# workloads (bench/workloads.sh) run first on netcore, then on the kernel:
#   tcp_bulk_up    iperf3 -c (client sends): receiver Gbit/s; the client's user+sys CPU seconds
#                  per GB sent (/usr/bin/time; on netcore that includes the netstack thread, the
#                  peer's CPU is not counted on either stack). Over veth the kernel does much
#                  of the receiving side's work in the sender's softirq, charged to whichever
#                  process sends: so the kernel's figure flatters it for tcp_bulk_down.
#   tcp_bulk_down  iperf3 -c -R (peer sends): the same figures, the client receiving
#   tcp_latency_pinned    sockperf ping-pong over TCP, 64-byte messages, client on CPU 0 and
#                  peer on CPU 1: round-trip p50/p99/p99.9 (us, --full-rtt; sockperf's default,
#                  and DESIGN.md's figures, are half of that), and cpu_per_rt: the client's
#                  user+sys CPU microseconds per round trip (all threads, warm-up included),
#                  what a NETCORE_PROFILE's spin costs
#   tcp_latency_unpinned  the same, neither pinned: where the scheduler puts client and peer
#                  (same core or not) moves the kernel's p50 between ~13 and ~60 us on a 2-core
#                  VM; see DESIGN.md and bench_latency
#   udp_latency_pinned    the same over UDP, pinned
#   tcp_connrate   bench/connrate client: connect, 1-byte request and response, close (conn/s;
#                  the client waits for the server's FIN first, so TIME-WAIT stays server-side)
#   tcp_connrate_pinned  the same with the client on CPU 0 and the server on CPU 1: where the
#                  scheduler puts an unpinned client and server (one core or two) moves either
#                  stack's rate by 2x from run to run; pinned, runs compare
#   idle_conn_mem  bench/connrate hold: 1000 idle established connections; bytes per connection
#                  in the client process (user_per_conn), in kernel socket objects (kernel
#                  stack only: kernel_per_conn, the slab objects of one socket), and the two
#                  together (total_per_conn)
#   nginx          the other way round: nginx as the server under test, in its stock shape
#                  (daemon on, master_process on, 2 workers; on netcore the workers share the
#                  master's stack, issue 14), wrk -t2 -c32 on the kernel stack fetching a 1 KiB
#                  file for the run's seconds: requests/s and p99 latency (wrk --latency). On
#                  netcore nginx runs on the TAP at 198.18.0.2 and wrk where the netcore
#                  client's peers run; on the kernel nginx runs where the kernel client's peers
#                  run and wrk where its client runs.
# --quick runs udp_latency_pinned and nginx on the sandbox only (they say little about the path
# that the two other topologies would not repeat) and 2-second runs instead of 5. --repeat N
# runs everything N times, netcore first in odd rounds and the kernel first in even ones, and
# reports each figure's median: the machine is shared and one run's figures move by 20% or more.
# Output: bench/results/<UTC time>.csv and latest.csv
# (topology,workload,stack,metric,value,unit), latest.png (netcore/kernel ratio per metric, one
# panel per topology, bench/plot.gp), a table per topology and one of the ratios side by side on
# stdout, kept in <UTC time>.txt and latest.txt with the date, machine, kernel and library. Exit 1 when any expected figure is missing (each is named), 2 on bad usage or a
# missing tool.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
TOP=$(dirname "$BENCH_DIR")
# Benchmarked programs publish no stats socket (netcore stat): nothing left behind by the
# servers the run kills, and one fd and event fewer in what is measured.
export NETCORE_STAT=off
NETCORE=$TOP/netcore
RESULTS=$BENCH_DIR/results

PORT_IPERF=5201
PORT_SP_TCP=11111       # sockperf over TCP, peer pinned to CPU 1
PORT_SP_UDP=11112       # sockperf over UDP, peer pinned to CPU 1
PORT_SP_TCP_FREE=11113  # sockperf over TCP, peer unpinned
PORT_CONNRATE=7001
PORT_CONNRATE_PIN=7003  # connrate server pinned to CPU 1
PORT_SINK=7002
PORT_NGINX=8081
HOLD_N=1000
MSG_SIZE=64

ALL_WORKLOADS="tcp_bulk_up tcp_bulk_down tcp_latency_pinned tcp_latency_unpinned
udp_latency_pinned tcp_connrate tcp_connrate_pinned idle_conn_mem nginx"
QUICK_ONLY_SANDBOX="udp_latency_pinned nginx"

# shellcheck source-path=SCRIPTDIR source=topo.sh
. "$BENCH_DIR/topo.sh"
# shellcheck source-path=SCRIPTDIR source=workloads.sh
. "$BENCH_DIR/workloads.sh"
# nginx's configuration and its stop by pid, as the tests have them (nc_nginx_conf, nc_nginx_stop)
# shellcheck source-path=SCRIPTDIR source=../tests/lib/nginx.sh
. "$TOP/tests/lib/nginx.sh"

usage() {
    cat <<USAGE
usage: netcore bench [--quick] [--keep-logs] [--topology LIST] [--repeat N]

Measures netcore against the kernel's own stack on this machine, on three topologies
(sandbox: TAP at MTU 65000; direct: TAP at MTU 1500, peer on its link; routed: MTU 1500, the
server one router hop away), each with its kernel baseline, and writes
bench/results/<UTC time>.csv, latest.csv and latest.png (netcore/kernel ratios).
  --quick          2-second runs instead of 5, UDP latency and nginx on the sandbox only:
                   about 2 minutes (the full run: about 5)
  --keep-logs      keep every tool's output in bench/results/<UTC time>.logs/ (by default only
                   the output of failed runs is kept there)
  --topology LIST  only these topologies (comma-separated: sandbox, direct, routed), e.g.
                   --quick --topology routed for one topology in under a minute
  --repeat N       N rounds (1-9), alternating which stack goes first; each figure is the
                   median of its rounds (all rounds in bench/results/<UTC time>.raw.csv)
Needs root, iperf3, sockperf, nginx, wrk, python3, gnuplot and /usr/bin/time (./netcore
deps).
USAGE
}

QUICK=0
KEEP_LOGS=0
REPEAT=1
RUN_TOPOS=$TOPOLOGIES
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --quick) QUICK=1; shift ;;
        --keep-logs) KEEP_LOGS=1; shift ;;
        --repeat|--repeat=*)
            if [ "$1" = --repeat ]; then
                [ $# -ge 2 ] || { echo "netcore bench: --repeat needs a value" >&2; exit 2; }
                REPEAT=$2; shift 2
            else
                REPEAT=${1#*=}; shift
            fi
            [[ $REPEAT =~ ^[1-9]$ ]] ||
                { echo "netcore bench: bad --repeat '$REPEAT' (expected 1-9)" >&2; exit 2; } ;;
        --topology|--topology=*)
            if [ "$1" = --topology ]; then
                [ $# -ge 2 ] || { echo "netcore bench: --topology needs a value" >&2; exit 2; }
                RUN_TOPOS=${2//,/ }; shift 2
            else
                RUN_TOPOS=${1#*=}; RUN_TOPOS=${RUN_TOPOS//,/ }; shift
            fi
            for t in $RUN_TOPOS; do
                [[ " $TOPOLOGIES " == *" $t "* ]] ||
                    { echo "netcore bench: unknown topology '$t' (expected: $TOPOLOGIES)" >&2
                      exit 2; }
            done
            [ -n "${RUN_TOPOS// /}" ] ||
                { echo "netcore bench: --topology needs a value" >&2; exit 2; } ;;
        *) echo "netcore bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

die() { echo "netcore bench: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (creates network namespaces, TAPs and veth pairs)"
for tool in iperf3 sockperf nginx wrk python3 gnuplot ip ss timeout gcc taskset flock sysctl; do
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
        nc_nginx_stop "$f"
    done
    kill_stack_holders
    for ns in $ALL_NS; do
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

# Leftovers of earlier runs that died without their trap.
for ns in $(stale_namespaces); do
    ip netns del "$ns" 2>/dev/null && echo "bench: removed namespace $ns, left by an earlier run"
done

# ------------------------------------------------------------------------------------ results

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS"
CSV=$WORK/results.csv
RAW=$WORK/raw.csv       # every round's figures (record); CSV gets their medians
echo 'round,topology,workload,stack,metric,value,unit' >"$RAW"
ROUND=1
FAILED=()

# topo_workloads TOPO: the workloads run on TOPO.
topo_workloads() {
    local w out=
    for w in $ALL_WORKLOADS; do
        if [ "$QUICK" -eq 1 ] && [ "$1" != sandbox ] &&
           [[ " $QUICK_ONLY_SANDBOX " == *" $w "* ]]; then
            continue
        fi
        out+="$w "
    done
    echo "${out% }"
}

T0=$SECONDS
# What the figures are of: when, which machine and kernel, which library and tree.
# The load average says how busy the shared machine was.
ABOUT="$(date -u '+%F %H:%M UTC'); $(nproc) CPUs, $(. /etc/os-release && echo "$PRETTY_NAME"),\
 kernel $(uname -r); $lib ($(git -C "$TOP" describe --always --dirty 2>/dev/null || echo '?'))"
# The user's NETCORE_* settings (a profile, offloads off, ...) label the figures too; the
# run's own (NETCORE_STAT, NETCORE_RUNDIR) are not theirs, and the library is named already.
SETTINGS=$(env | grep '^NETCORE_' | grep -Ev '^NETCORE_(STAT|RUNDIR|LIBDIR)=' | sort |
    tr '\n' ' ') || SETTINGS=
ABOUT+="; ${SETTINGS:-default settings}"
ABOUT=${ABOUT% }
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: $ABOUT; load average $LOAD0"
echo "bench: $([ "$QUICK" -eq 1 ] && echo quick || echo full) run, ${SECS} s per timed" \
     "workload; topologies: $RUN_TOPOS$([ "$REPEAT" -eq 1 ] || echo "; $REPEAT rounds")"
for ((ROUND = 1; ROUND <= REPEAT; ROUND++)); do
    # Which stack goes first alternates: a drift in the machine's load favours neither.
    if ((ROUND % 2)); then order="netcore kernel"; else order="kernel netcore"; fi
    for topo in $RUN_TOPOS; do
        if ! topo_up "$topo"; then
            FAILED+=("$topo: setup")
            topo_down "$topo"
            continue
        fi
        echo "bench: $topo: $TOPO_DESC$([ "$REPEAT" -eq 1 ] || echo " (round $ROUND)")"
        for stack in $order; do
            run_stack "$stack" "$(topo_workloads "$topo")"
        done
        topo_down "$topo"
    done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# CSV: the median of each figure over the rounds that gave it (bench/median.awk).
awk -f "$BENCH_DIR/median.awk" "$RAW" >"$CSV"

# Every (topology, workload, stack, metric) expected; a missing one is a failure, named.
MISSING=()
for topo in $RUN_TOPOS; do
    for w in $(topo_workloads "$topo"); do
        for stack in netcore kernel; do
            for m in $(workload_metrics "$w" "$stack"); do
                grep -q "^$topo,$w,$stack,$m," "$CSV" || MISSING+=("$topo $w $stack $m")
            done
        done
    done
done

cp "$CSV" "$RESULTS/$STAMP.csv"
cp "$CSV" "$RESULTS/latest.csv"
[ "$REPEAT" -eq 1 ] || cp "$RAW" "$RESULTS/$STAMP.raw.csv"

# ------------------------------------------------------------------------------ table, chart

# The rows of one topology's table and chart: one per (workload, metric) with both stacks, in
# the order workloads run and metrics are listed. For a metric in Gbit/s, conn/s or req/s a
# ratio above 1 favours netcore; for the others (us, B, s/GB) below 1.
row_order() {  # row_order TOPO: "workload,metric" ...
    local w m
    for w in $(topo_workloads "$1"); do
        for m in $(workload_metrics "$w" kernel); do
            printf '%s,%s ' "$w" "$m"
        done
    done
}

# table TOPO: the table of TOPO on stdout; its chart data (label RATIO BETTER) in
# WORK/ratios-TOPO.dat.
table() {
    awk -F, -v topo="$1" -v data="$WORK/ratios-$1.dat" -v order="$(row_order "$1")" '
        BEGIN { n = split(order, keys, / +/); if (keys[n] == "") n-- }
        NR == 1 || $1 != topo { next }
        { k = $2 "," $4; unit[k] = $6; v[k, $3] = $5 }
        END {
            printf "\n%s\n%-20s %-15s %-7s %12s %12s %8s\n", topo, "workload", "metric",
                   "unit", "netcore", "kernel", "ratio"
            for (i = 1; i <= n; i++) {
                k = keys[i]
                split(k, p, ",")
                nc = ((k, "netcore") in v) ? v[k, "netcore"] : "-"
                kn = ((k, "kernel") in v) ? v[k, "kernel"] : "-"
                u = (k in unit) ? unit[k] : "-"
                r = "-"
                # The kernel keeps socket memory out of the process: that ratio means
                # nothing.
                if (p[2] != "user_per_conn" && p[2] != "kernel_per_conn" && nc != "-" &&
                    kn != "-" && kn + 0 > 0 && nc + 0 > 0) {
                    r = sprintf("%.2f", nc / kn)
                    higher = (u == "Gbit/s" || u == "conn/s" || u == "req/s")
                    better = higher ? (nc + 0 >= kn + 0) : (nc + 0 <= kn + 0)
                    printf "\"%s\\n%s\" %.4f %d\n", p[1], p[2], nc / kn, better > data
                }
                printf "%-20s %-15s %-7s %12s %12s %8s\n", p[1], p[2], u, nc, kn, r
            }
        }' "$CSV"
}

# ratios: netcore/kernel of every (workload, metric) side by side, a column per topology run.
ratios() {
    awk -F, -v topos="$RUN_TOPOS" -v order="$(row_order sandbox)" '
        BEGIN { nt = split(topos, t, / +/); n = split(order, keys, / +/); if (keys[n] == "") n-- }
        NR == 1 { next }
        { v[$1, $2 "," $4, $3] = $5 }
        END {
            printf "\nnetcore/kernel%22s", ""
            for (j = 1; j <= nt; j++) printf " %9s", t[j]
            printf "\n"
            for (i = 1; i <= n; i++) {
                split(keys[i], p, ",")
                if (p[2] == "user_per_conn" || p[2] == "kernel_per_conn") continue
                line = sprintf("%-20s %-15s", p[1], p[2]); any = 0
                for (j = 1; j <= nt; j++) {
                    nc = v[t[j], keys[i], "netcore"]; kn = v[t[j], keys[i], "kernel"]
                    if (nc != "" && kn != "" && kn + 0 > 0) {
                        line = line sprintf(" %9.2f", nc / kn); any = 1
                    } else {
                        line = line sprintf(" %9s", "-")
                    }
                }
                if (any) print line
            }
        }' "$CSV"
}

# The tables, also kept beside the CSV (STAMP.txt, latest.txt) with what they are of.
{
    echo "netcore bench$([ "$QUICK" -eq 1 ] && echo " --quick")$([ "$REPEAT" -eq 1 ] ||
        echo " --repeat $REPEAT (medians)"): $ABOUT; load average $LOAD0 at the start," \
        "$LOAD1 at the end"
    for topo in $RUN_TOPOS; do
        table "$topo"
    done
    ratios
} >"$WORK/tables.txt"
tail -n +2 "$WORK/tables.txt"
cp "$WORK/tables.txt" "$RESULTS/$STAMP.txt"
cp "$WORK/tables.txt" "$RESULTS/latest.txt"

DATAFILES=
TITLES=
MTUS=
for topo in $RUN_TOPOS; do
    if [ -s "$WORK/ratios-$topo.dat" ]; then
        DATAFILES+="$WORK/ratios-$topo.dat "
        topo_set "$topo"
        TITLES+="$topo "
        MTUS+="$TOPO_MTU "
    fi
done

if [ -n "$DATAFILES" ]; then
    if gnuplot -e "datafiles='${DATAFILES% }'; titles='${TITLES% }'; mtus='${MTUS% }'; \
                   outfile='$RESULTS/latest.png'; \
                   subtitle='$STAMP$([ "$QUICK" -eq 1 ] && echo ' (quick)')'" \
               "$BENCH_DIR/plot.gp" 2>"$WORK/gnuplot.log"; then
        cp "$RESULTS/latest.png" "$RESULTS/$STAMP.png"
    else
        cat "$WORK/gnuplot.log" >&2
        FAILED+=("chart (gnuplot)")
    fi
fi

echo
echo "bench: results in bench/results/$STAMP.csv and .txt (and latest.csv, .txt, .png);" \
     "$((SECONDS - T0)) s"
if [ ${#MISSING[@]} -gt 0 ] || [ ${#FAILED[@]} -gt 0 ]; then
    for f in "${FAILED[@]}"; do echo "bench: FAILED: $f" >&2; done
    for f in "${MISSING[@]}"; do echo "bench: no figure for: $f" >&2; done
    if [ -d "$RESULTS/$STAMP.logs" ]; then
        echo "bench: logs in bench/results/$STAMP.logs/" >&2
    fi
    exit 1
fi
