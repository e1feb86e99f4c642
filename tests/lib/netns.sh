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
# holds the kernel-side addresses), NC_KERNEL_IP, NC_KERNEL_IP6, NC_NETCORE_IP, NC_LAST_PID,
# NC_LINE (nc_wait_line), NC_USER_DIR (nc_as_nobody); NETCORE_RUNDIR (exported: the shared
# stacks' rendezvous directory, one per test; nc_stack_lock, nc_stack_holders).
# nc_ns_setup owns the EXIT, INT, TERM and HUP traps: add cleanup with nc_at_exit.
#
# The two trees are one directory unless the build is made elsewhere (VPATH; make distcheck
# builds from a read-only copy of the sources): make check passes both, a test run by hand
# from the tree finds them from this file's place.
#
# Faults between netcore and the kernel (loss, delay, ...): nc_impair_setup after nc_ns_setup,
# then nc_impair_start IMPAIR-OPTIONS / nc_impair_stop around each transfer (tests/impair.c).

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
NC_PEER_TAP=nctap1
NC_NS=
NC_LAST_PID=
NC_IMPAIR_PID=
NC_IMPAIR_LOG=
NC_IMPAIR_STATS=
NC_USER_DIR=
NC_LINE=
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
    if [ -n "$NC_NS" ]; then
        # Whatever still runs in the test's own namespace was started by this test: a
        # daemon's worker whose pid it never learnt (a test failing early) would otherwise
        # outlive it, holding the stack's sockets. End each by pid.
        for pid in $(ip netns pids "$NC_NS" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null
        done
        ip netns del "$NC_NS" 2>/dev/null
        rm -rf "/etc/netns/$NC_NS"
    fi
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
    # Stats sockets of the test's programs in a directory of the test's own, removed at exit:
    # a program killed by the test leaves its PID.sock behind (unless NETCORE_STAT is set).
    if [ -z "${NETCORE_STAT:-}" ]; then
        NETCORE_STAT=$(mktemp -d)/stat
        export NETCORE_STAT
        nc_at_exit "rm -rf '${NETCORE_STAT%/stat}'"
    fi
    # The shared stacks' rendezvous (core/share.h) in a run directory of the test's own (mktemp
    # -d: mode 0700), removed at exit: tests at the same time each get their own driver, and
    # none attaches to a stack a test killed or left behind in the default /tmp/netcore-UID.
    if [ -z "${NETCORE_RUNDIR:-}" ]; then
        NETCORE_RUNDIR=$(mktemp -d)
        export NETCORE_RUNDIR
        nc_at_exit "rm -rf '$NETCORE_RUNDIR'"
        # Last added runs first: a stack's driver or keeper still holding this test's
        # rendezvous (a process this test started, since the directory is the test's alone)
        # goes before the directory and the namespace.
        nc_at_exit "nc__kill_stack_holders"
    fi
    # Names for the sandbox's addresses in the namespace's own /etc/hosts (ip netns exec
    # mounts /etc/netns/NS/hosts over /etc/hosts). Programs on netcore resolve through it and
    # no DNS server answers in the sandbox, so a lookup of these addresses (python3 -m
    # http.server asks for the name of the one it binds) would otherwise wait for a timeout.
    mkdir -p "/etc/netns/$NC_NS"
    { cat /etc/hosts 2>/dev/null
      printf '%s netcore-kernel\n%s netcore\n' "$NC_KERNEL_IP" "$NC_NETCORE_IP"
    } >"/etc/netns/$NC_NS/hosts"
}

# nc_stack_lock: print the rendezvous lock of NC_NS's shared stack in NETCORE_RUNDIR
# (stack-IFNAME-NETNS.lock, core/share.h), or nothing when there is none yet.
nc_stack_lock() {
    local f
    for f in "$NETCORE_RUNDIR"/stack-*.lock; do
        [ -e "$f" ] && { echo "$f"; return 0; }
    done
    return 0
}

# nc_stack_sock: the same for the rendezvous socket (stack-IFNAME-NETNS.sock).
nc_stack_sock() {
    local f
    for f in "$NETCORE_RUNDIR"/stack-*.sock; do
        [ -e "$f" ] && { echo "$f"; return 0; }
    done
    return 0
}

# nc_stack_holders: print the pids (one a line) of the processes that have the rendezvous lock
# open: the stack's driver (or keeper), which holds it with flock for as long as it drives.
nc_stack_holders() {
    local lock fd pid
    lock=$(nc_stack_lock)
    [ -n "$lock" ] || return 0
    for fd in /proc/[0-9]*/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "$lock" ] || continue
        pid=${fd#/proc/}
        echo "${pid%%/*}"
    done | sort -un
}

# nc_stack_wait_free SECS: wait until no process drives the stack (the lock is free: flock(1)
# gets it, the kernel's answer to the holder's exit, not a poll), at most SECS; fail otherwise.
nc_stack_wait_free() {
    local lock
    lock=$(nc_stack_lock)
    [ -n "$lock" ] || return 0
    flock -w "$1" "$lock" true ||
        fail "the stack's rendezvous lock $lock is still held after $1 s by pid(s)" \
            "$(nc_stack_holders | tr '\n' ' ')"
}

# nc_pid_wait_gone PID SECS: wait until PID (not a child of this shell) is gone or a zombie,
# at most SECS; fail otherwise. Nothing tells another process's exit to a non-parent (short of
# pidfd, which bash lacks): this looks every 20 ms.
nc_pid_wait_gone() {
    local pid=$1 end=$((SECONDS + $2)) st
    while ((SECONDS < end)); do
        st=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0
        [[ ${st##*) } == Z\ * ]] && return 0
        sleep 0.02
    done
    fail "pid $pid still running after $2 s: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
}

# nc_wait_children PID N SECS: wait until PID has N children (a daemon's workers, which it
# forks after its start returned), at most SECS; prints their pids. Nothing tells a
# non-parent of another process's fork: this looks every 20 ms. Fails after SECS.
nc_wait_children() {
    local pid=$1 n=$2 end=$((SECONDS + $3)) kids
    while :; do
        kids=$(pgrep -P "$pid" | tr '\n' ' ') || kids=
        [ "$(wc -w <<<"$kids")" -eq "$n" ] && { echo "$kids"; return 0; }
        ((SECONDS < end)) || break
        sleep 0.02
    done
    fail "want $n children of pid $pid within $3 s, got '$kids'"
}

nc__kill_stack_holders() {
    local pid
    [ -n "${NETCORE_RUNDIR:-}" ] && [ -d "$NETCORE_RUNDIR" ] || return 0
    for pid in $(nc_stack_holders); do
        kill -KILL "$pid" 2>/dev/null
    done
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
# kernel sockets: ss does not see them (wait for the program's own "listening" line with
# nc_wait_line).
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

# nc_wait_line FILE ERE [PID] [NOT-ERE]: wait until a line of FILE matches the extended
# regular expression ERE (a server's "listening" line, say), and not NOT-ERE, and set NC_LINE
# to it; fail the test when none has come after 20 s, or at once when PID (the program
# writing FILE; may be empty) exits without one. tail -F follows the file as it is written
# (inotify): this waits for the write, not for a time.
nc_wait_line() {
    local file=$1 ere=$2 pid=${3:-} not=${4:-} line fd tail_pid end=$((SECONDS + 20))
    exec {fd}< <(exec tail -n +1 -F ${pid:+--pid="$pid"} "$file" 2>/dev/null)
    tail_pid=$!
    NC_LINE=
    while ((SECONDS < end)) && IFS= read -r -t $((end - SECONDS)) -u "$fd" line; do
        if [[ $line =~ $ere ]] && ! [[ -n $not && $line =~ $not ]]; then
            NC_LINE=$line
            break
        fi
    done
    kill "$tail_pid" 2>/dev/null
    exec {fd}<&-
    [ -n "$NC_LINE" ] && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
        fail "no line matching '$ere' in $file: the program (pid $pid) exited." \
            "$file: $(tail -n 5 "$file" 2>/dev/null)"
    fi
    fail "no line matching '$ere' in $file after 20 s: $(tail -n 5 "$file" 2>/dev/null)"
}

# nc_wait_blocked PID: wait (up to 10 s) until the main thread of PID sleeps in a system call
# — a recv or send that blocks, or netcore's wait for its socket (a futex) — and print that
# call's number; fail the test otherwise. Nothing outside a process tells when its call
# blocks: this watches the thread's state in /proc, every 10 ms. A thread that sleeps only a
# moment (on a lock) passes too, so a test must not depend on the call having blocked.
nc_wait_blocked() {
    local pid=$1 stat call end=$((SECONDS + 10))
    while ((SECONDS < end)); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || fail "nc_wait_blocked: pid $pid exited"
        read -r call _ <"/proc/$pid/syscall" 2>/dev/null || call=
        # The state follows the command name, which may itself hold ") ".
        if [[ ${stat##*) } == S\ * && $call =~ ^[0-9]+$ ]]; then
            echo "$call"
            return 0
        fi
        sleep 0.01
    done
    fail "pid $pid did not block in a system call within 10 s"
}

# nc_as_nobody SECS CMD...: CMD on netcore in NC_NS as user nobody (setpriv), under a time
# limit, preloading a copy of libnetcore.so that nobody can read, with nobody's own shared-stack
# run directory (NC_USER_DIR/run, mode 0700). The dynamic loader opens
# LD_PRELOAD as the program's user and skips a library it cannot open with only a warning:
# the build tree's copy is out of reach in a checkout under /root or in a mktemp -d (0700)
# directory, and the program would run on the kernel's stack. The copy lives in NC_USER_DIR
# (mode 755 under /tmp, removed at exit), where files such a program must read go as well;
# nc_user_dir makes it, and must run first, in the test's own shell (not inside $(...)).
nc_as_nobody() {
    local secs=$1
    shift
    [ -n "$NC_USER_DIR" ] || { echo "ERROR: nc_as_nobody before nc_user_dir" >&2; exit 99; }
    # The run dir of the test (root's, 0700) is refused to nobody: one of nobody's own.
    NETCORE_LIBDIR=$NC_USER_DIR NETCORE_RUNDIR=$NC_USER_DIR/run on_netcore "$secs" \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# nc_user_dir: make NC_USER_DIR (see nc_as_nobody) and check that nobody can read it.
nc_user_dir() {
    NC_USER_DIR=$(mktemp -d /tmp/netcore-user.XXXXXX) ||
        { echo "ERROR: nc_user_dir: mktemp -d /tmp/netcore-user.XXXXXX failed" >&2; exit 99; }
    nc_at_exit "rm -rf '$NC_USER_DIR'"
    chmod 755 "$NC_USER_DIR"
    install -m 644 "$NETCORE_LIBDIR/libnetcore.so" "$NC_USER_DIR/libnetcore.so" || exit 99
    install -d -m 700 -o 65534 -g 65534 "$NC_USER_DIR/run" || exit 99
    if ! setpriv --reuid=65534 --regid=65534 --clear-groups \
        test -r "$NC_USER_DIR/libnetcore.so"; then
        echo "ERROR: nc_user_dir: nobody cannot read $NC_USER_DIR/libnetcore.so" >&2
        exit 99
    fi
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

# nc_impair_setup: rearrange NC_NS so that frames between netcore and the kernel pass through
# the impair relay. The kernel side of NC_TAP keeps no address, no ARP and no IPv6, so the
# kernel ignores what netcore sends there; a second TAP, NC_PEER_TAP, with NC_TAP's MTU, takes
# NC_KERNEL_IP and NC_KERNEL_IP6. Peers and addresses stay what other tests use; nothing gets
# through until nc_impair_start runs the relay. Both TAPs go with the namespace.
nc_impair_setup() {
    # netcore's TAP leaves the bridge and the kernel stops answering on it: the relay reads
    # what netcore sends there (AF_PACKET) and passes it, impaired, through the next TAP of
    # the pool (NC_PEER_TAP, which it holds, so netcore programs get NC_TAP), which is on the
    # bridge with the kernel's addresses; and the other way.
    if ! { ip -n "$NC_NS" link set "$NC_TAP" nomaster &&
           ip -n "$NC_NS" addr flush dev "$NC_TAP" &&
           ip netns exec "$NC_NS" sysctl -qw "net.ipv6.conf.$NC_TAP.disable_ipv6=1" &&
           ip -n "$NC_NS" link set "$NC_TAP" arp off &&
           ip -n "$NC_NS" link show dev "$NC_PEER_TAP" >/dev/null; }; then
        echo "ERROR: nc_impair_setup: could not rearrange $NC_NS for the relay" >&2
        exit 99
    fi
    NC_IMPAIR_LOG=$(mktemp)
    nc_at_exit "rm -f '$NC_IMPAIR_LOG'"
}

# nc_impair_mtu MTU: set the MTU of both TAPs and the bridge (netcore reads it when a program
# starts; the kernel side must not send frames the relay cannot pass on).
nc_impair_mtu() {
    if ! ip -n "$NC_NS" link set "$NC_TAP" mtu "$1" ||
        ! ip -n "$NC_NS" link set "$NC_PEER_TAP" mtu "$1" ||
        ! ip -n "$NC_NS" link set "$NC_BRIDGE" mtu "$1"; then
        echo "ERROR: nc_impair_mtu $1 failed" >&2
        exit 99
    fi
}

# nc_impair_start OPTIONS...: run the relay with impair's OPTIONS (e.g. -s 1 -b loss=5) in the
# background; returns once it bridges the two TAPs. The relay stops by itself after 600 s.
nc_impair_start() {
    [ -x "$NC_TOP/tests/impair" ] || { echo "ERROR: tests/impair not built" >&2; exit 99; }
    nc_bg "$NC_TOP/tests/impair" -t 600 "$@" "$NC_TAP" "$NC_PEER_TAP" >"$NC_IMPAIR_LOG" 2>&1
    NC_IMPAIR_PID=$NC_LAST_PID
    nc_wait_line "$NC_IMPAIR_LOG" '^impair: ready' "$NC_IMPAIR_PID"
}

# nc_impair_stop: stop the relay; NC_IMPAIR_STATS holds its two lines of counters (up: netcore
# to kernel, down: kernel to netcore), which are also printed.
nc_impair_stop() {
    kill -TERM "$NC_IMPAIR_PID" 2>/dev/null
    wait "$NC_IMPAIR_PID" 2>/dev/null
    NC_IMPAIR_STATS=$(grep -E '^impair: (up|down) ' "$NC_IMPAIR_LOG")
    echo "$NC_IMPAIR_STATS"
}

# nc_impair_count up|down COUNTER: a counter of the last nc_impair_stop (e.g. down lost).
nc_impair_count() {
    awk -v d="$1" -v k="$2" '$2 == d { for (i = 3; i <= NF; i++) { split($i, kv, "=");
        if (kv[1] == k) print kv[2] } }' <<<"$NC_IMPAIR_STATS"
}
