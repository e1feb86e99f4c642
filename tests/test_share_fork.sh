#!/bin/bash
# test_share_fork.sh — fork-per-connection servers on one shared stack (issue 14): python's
# socketserver.ForkingTCPServer, socat TCP-LISTEN:...,fork with EXEC:cat, and a server whose
# parent closes its copy of each accepted connection before the child moves a byte
# (tests/lib/echoserve.py closefirst), each on netcore at 198.18.0.2. Four kernel-side clients
# at once send 1 MB each (tests/lib/blast.py) and must get it back byte-identical (SHA-256):
# the accepted connection lives on in the child that serves it, the parent's close leaves it
# alone.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

CLIENTS=4
BYTES=1000000

nc_require_root
command -v socat >/dev/null || nc_skip "socat not installed (./netcore deps)"
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"

# blast NAME PORT: the kernel-side clients against a server on netcore.
blast() {
    local rc=0
    ip netns exec "$NC_NS" timeout 50 python3 "$NC_SRC/tests/lib/blast.py" \
        "$NC_NETCORE_IP" "$2" "$CLIENTS" "$BYTES" >"$tmp/$1.blast" 2>&1 || rc=$?
    cat "$tmp/$1.blast"
    [ "$rc" -eq 0 ] || { cat "$tmp/$1.log" >&2; fail "$1: $CLIENTS clients x $BYTES bytes (exit $rc)"; }
    [ "$(grep -c 'byte-identical$' "$tmp/$1.blast")" -eq "$CLIENTS" ] ||
        fail "$1: want $CLIENTS byte-identical echoes"
    echo "ok: $1: $CLIENTS clients x $BYTES bytes echoed byte-identical"
}

# stop PID: stop a server started by nc_bg_run and wait until its stack is gone, so that the
# next server drives a stack of its own (and logs its "listening on" line itself).
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    nc_stack_wait_free 10
}

# 1. socketserver.ForkingTCPServer, stock.
nc_bg_run python3 "$NC_SRC/tests/lib/echoserve.py" fork "$NC_NETCORE_IP" 7601 \
    >"$tmp/forking.log" 2>&1
nc_wait_line "$tmp/forking.log" "^listening on $NC_NETCORE_IP 7601 " "$NC_LAST_PID"
blast forking 7601
stop "$NC_LAST_PID"

# 2. socat, a child per connection, each running cat (fork, then exec of a program with the
# connection as its stdin and stdout).
NETCORE_LOG=info nc_bg_run socat "TCP-LISTEN:7602,bind=$NC_NETCORE_IP,fork,reuseaddr" EXEC:cat \
    >"$tmp/socat.log" 2>&1
nc_wait_line "$tmp/socat.log" "listening on [^ ]*:7602\$" "$NC_LAST_PID"
blast socat 7602
stop "$NC_LAST_PID"

# 3. The parent closes its copy of every connection first; only then does the child echo.
nc_bg_run python3 "$NC_SRC/tests/lib/echoserve.py" closefirst "$NC_NETCORE_IP" 7603 \
    >"$tmp/closefirst.log" 2>&1
nc_wait_line "$tmp/closefirst.log" "^listening on $NC_NETCORE_IP 7603 " "$NC_LAST_PID"
blast closefirst 7603
[ "$(grep -c '^parent closed connection ' "$tmp/closefirst.log")" -eq "$CLIENTS" ] ||
    fail "closefirst: the parent did not report closing $CLIENTS connections: $(cat "$tmp/closefirst.log")"
! grep -q '^child ' "$tmp/closefirst.log" || fail "closefirst: $(grep '^child ' "$tmp/closefirst.log")"
echo "ok: each parent closed its copy before the child's transfer, which completed"
echo "PASS: test_share_fork"
