# shellcheck shell=bash
# tests/lib/netns.sh — network sandbox for the shell tests run by `make check`.
#
# Source it from a test, then:
#   . "$(dirname "$0")/lib/netns.sh"
#   nc_require_root                  # skip (77) when not root; fail in CI
#   nc_ns_setup                      # private namespace NC_NS, TAP NC_TAP at NC_KERNEL_IP
#   nc_bg python3 -m http.server 8000 --bind "$NC_KERNEL_IP" >"$log" 2>&1
#   nc_wait_listen 8000              # kernel-side listener is up
#   nc_run curl -sS "http://$NC_KERNEL_IP:8000/"   # client on netcore, from NC_NETCORE_IP
#
# Exit codes follow automake: 0 pass, 1 fail, 77 skip, 99 hard error. Everything made here is
# removed on exit (pass, fail or signal); only processes started by nc_bg/nc_bg_run are killed.
#
# Variables: NC_SRC (source tree: the netcore command, tests/lib), NC_TOP (build tree: built
# programs and libnetcore.so), NC_NS, NC_TAP (first TAP of the pool on bridge NC_BRIDGE, which
# holds the kernel-side addresses), NC_KERNEL_IP, NC_KERNEL_IP6, NC_NETCORE_IP, NC_LAST_PID.
# nc_ns_setup owns the EXIT, INT, TERM and HUP traps: add cleanup with nc_at_exit.
#
# The two trees are one directory unless the build is made elsewhere (VPATH; make distcheck
# builds from a read-only copy of the sources): make check passes both, a test run by hand
# from the tree finds them from this file's place.

NC_SRC=${NC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
NC_TOP=${NC_TOP:-$NC_SRC}
# The netcore command in the source tree would preload the library built next to it; the one
# under test is the build tree's, wherever that is (and not an installed one).
NETCORE_LIBDIR=$NC_TOP/preload/.libs
NC_TAP=nctap0
NC_BRIDGE=ncbr0
NC_KERNEL_IP=198.18.0.1
NC_KERNEL_IP6=2001:db8::1
NC_NETCORE_IP=198.18.0.2
NC_NS=
NC_LAST_PID=
NC_PIDS=()
NC_AT_EXIT=()
export NC_SRC NC_TOP NETCORE_LIBDIR NC_TAP NC_BRIDGE NC_KERNEL_IP NC_KERNEL_IP6 NC_NETCORE_IP

# nc_skip REASON: skip the test (exit 77), except in CI (CI=true), where a skip would hide a
# broken runner: fail (exit 1) instead.
nc_skip() {
    if [ "${CI:-}" = true ]; then
        echo "FAIL: $* (CI=true: not skipping)" >&2
        exit 1
    fi
    echo "SKIP: $*"
    exit 77
}

nc_require_root() {
    [ "$(id -u)" -eq 0 ] ||
        nc_skip "needs root (creates a network namespace and TAP device)"
}

# nc_at_exit SHELL-CODE: run SHELL-CODE at exit, before the namespace is removed (last added
# runs first).
nc_at_exit() {
    NC_AT_EXIT+=("$1")
}

nc__cleanup() {
    local rc=$? pid i
    set +e
    for pid in "${NC_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${NC_PIDS[@]}"; do
        # Give each 2 s to exit on SIGTERM, then SIGKILL.
        for ((i = 0; i < 40; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ((i = ${#NC_AT_EXIT[@]} - 1; i >= 0; i--)); do
        eval "${NC_AT_EXIT[i]}"
    done
    [ -n "$NC_NS" ] && ip netns del "$NC_NS" 2>/dev/null
    exit "$rc"
}

# nc_ns_setup: create this test's own namespace nct-<test>-<pid> with `netcore up` and arrange
# for its removal at exit. Exits 99 when the sandbox cannot be made.
nc_ns_setup() {
    local name out
    name=$(basename "$0" .sh)
    name=${name#test_}
    name=${name//[^A-Za-z0-9]/}
    NC_NS=nct-${name:0:10}-$$
    export NC_NS
    trap nc__cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if ! out=$("$NC_SRC/netcore" up --ns "$NC_NS" --tap "$NC_TAP" 2>&1); then
        echo "ERROR: nc_ns_setup: netcore up --ns $NC_NS failed:" >&2
        echo "$out" >&2
        exit 99
    fi
}

# nc_bg CMD...: run CMD in the background inside NC_NS on the kernel stack; NC_LAST_PID is its
# pid (ip netns exec execs CMD). Redirect at the call: nc_bg CMD >log 2>&1.
nc_bg() {
    ip netns exec "$NC_NS" "$@" &
    NC_LAST_PID=$!
    NC_PIDS+=("$NC_LAST_PID")
}

# nc_bg_run CMD...: like nc_bg, but CMD runs on netcore (netcore run); the pid is CMD's too.
nc_bg_run() {
    "$NC_SRC/netcore" run --ns "$NC_NS" -- "$@" &
    NC_LAST_PID=$!
    NC_PIDS+=("$NC_LAST_PID")
}

# nc_run CMD...: run CMD on netcore inside NC_NS; returns CMD's exit status.
nc_run() {
    "$NC_SRC/netcore" run --ns "$NC_NS" -- "$@"
}

# nc__wait_ss t|u PORT [ADDR]: wait up to ~10 s for a kernel socket listening on PORT (and
# ADDR, or a wildcard address) in NC_NS; fail the test otherwise. Sockets on netcore are not
# kernel sockets: ss does not see them (use nc_wait_connect).
nc__wait_ss() {
    local proto=$1 port=$2 addr=${3:-} out end=$((SECONDS + 10)) name=tcp
    [ "$proto" = u ] && name=udp
    while ((SECONDS < end)); do
        out=$(ip netns exec "$NC_NS" ss -Hln"$proto" "sport = :$port" 2>/dev/null) || out=
        if [ -n "$out" ]; then
            [ -z "$addr" ] && return 0
            awk -v p=":$port" -v a="$addr" '
                $4 == a p || $4 == "[" a "]" p || $4 == "0.0.0.0" p || $4 == "*" p ||
                $4 == "[::]" p { found = 1 }
                END { exit !found }' <<<"$out" && return 0
        fi
        sleep 0.05
    done
    echo "FAIL: nothing listening on $name port $port${addr:+ at $addr} in $NC_NS after 10 s" >&2
    exit 1
}

nc_wait_listen() { nc__wait_ss t "$@"; }   # nc_wait_listen PORT [ADDR]: TCP listener
nc_wait_udp() { nc__wait_ss u "$@"; }      # nc_wait_udp PORT [ADDR]: bound UDP socket

# nc_wait_connect ADDR PORT: wait up to ~10 s until a kernel TCP client in NC_NS can connect
# to ADDR:PORT (e.g. a server on netcore at NC_NETCORE_IP); fail the test otherwise. Each
# attempt that succeeds is a real connection, opened and closed at once: the server sees it.
nc_wait_connect() {
    local end=$((SECONDS + 10))
    while ((SECONDS < end)); do
        # shellcheck disable=SC2016
        ip netns exec "$NC_NS" timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" \
            2>/dev/null && return 0
        sleep 0.1
    done
    echo "FAIL: cannot connect to $1:$2 from $NC_NS after 10 s" >&2
    exit 1
}

# nc_sha FILE: print FILE's sha256, nothing else.
nc_sha() {
    local sum
    sum=$(sha256sum <"$1") || return 1
    echo "${sum%% *}"
}

# nc_peer MODE PORT: a kernel-side tests/lib/peer.py server (echo, count, hello, close,
# discard, hold) on NC_KERNEL_IP:PORT in NC_NS; returns once it listens.
nc_peer() {
    nc_bg python3 "$NC_SRC/tests/lib/peer.py" "$1" "$NC_KERNEL_IP" "$2"
    nc_wait_listen "$2" "$NC_KERNEL_IP"
}

# nc_both PROG ARGS...: run the test program tests/PROG on the kernel stack, then on netcore,
# each under a 60 s limit; pass only if both pass (the kernel run validates the test itself).
nc_both() {
    local name=$1 prog=$NC_TOP/tests/$1 rc=0
    shift
    [ -x "$prog" ] || { echo "ERROR: $prog not built" >&2; exit 99; }
    echo "# kernel"
    ip netns exec "$NC_NS" timeout 60 "$prog" "$@" ||
        { echo "FAIL: $name on the kernel stack" >&2; rc=1; }
    echo "# netcore"
    nc_run timeout 60 "$prog" "$@" || { echo "FAIL: $name on netcore" >&2; rc=1; }
    [ "$rc" -eq 0 ] && echo "PASS: $name"
    return "$rc"
}

# fail WHAT...: the test fails here, saying why.
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# on_netcore SECS CMD...: CMD on netcore in NC_NS with a time limit, so that a hang fails
# instead of blocking make check.
on_netcore() {
    local secs=$1
    shift
    timeout "$secs" "$NC_SRC/netcore" run --ns "$NC_NS" -- "$@"
}
