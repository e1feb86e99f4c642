#!/bin/bash
# test_prog_multi.sh — several processes under netcore in one namespace at once: two curls
# started together by one shell, on the one stack they share (issue 14: both from
# 198.18.0.2), then again with NETCORE_STACK=own, each on a stack and TAP of its own from the
# pool (two different addresses); and git clone over HTTP (git runs its curl-based helper as
# a child process). Checked by content and by the client addresses in the server's log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
command -v git >/dev/null || nc_skip "git not installed (./netcore deps)"
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
mkdir "$tmp/www"
head -c 4M /dev/urandom >"$tmp/www/a"
head -c 4M /dev/urandom >"$tmp/www/b"
nc_bg python3 -m http.server 8000 --bind "$NC_KERNEL_IP" --directory "$tmp/www" \
    >"$tmp/http.log" 2>&1
nc_wait_listen 8000 "$NC_KERNEL_IP"

# 1. Two curls at once from one shell: two processes at the same time. The server holds each
# answer until both requests are in, so both are connected at once.
nc_bg python3 "$NC_SRC/tests/lib/pairserve.py" "$tmp/www" "$NC_KERNEL_IP" 8001 \
    >"$tmp/pair.log" 2>&1
nc_wait_listen 8001 "$NC_KERNEL_IP"

# two_curls WHAT: run the pair (with the caller's environment), check the content, and set
# CLIENTS to the client addresses the server logged for them.
two_curls() {
    rm -f "$tmp/a.out" "$tmp/b.out"
    local from
    from=$(wc -l <"$tmp/pair.log")
    # shellcheck disable=SC2016 # expanded by the inner shell
    on_netcore 60 bash -c 'curl -sS -o "$1/a.out" "$2/a" & curl -sS -o "$1/b.out" "$2/b"; wait $!' \
        multi "$tmp" "http://$NC_KERNEL_IP:8001" || fail "$1: concurrent curls failed"
    [ "$(nc_sha "$tmp/a.out")" = "$(nc_sha "$tmp/www/a")" ] || fail "$1: first curl: content differs"
    [ "$(nc_sha "$tmp/b.out")" = "$(nc_sha "$tmp/www/b")" ] || fail "$1: second curl: content differs"
    CLIENTS=$(tail -n +"$((from + 1))" "$tmp/pair.log" |
        awk '$2 == "GET" && $3 ~ /^\/[ab]$/ {print $1}' | sort | tr '\n' ' ')
    [ "$(wc -w <<<"$CLIENTS")" -eq 2 ] ||
        fail "$1: want two requests in the server log, got from: '$CLIENTS'; log: $(cat "$tmp/pair.log")"
}

# 1a. The default: one stack shared by both processes, one address.
two_curls shared
[ "$CLIENTS" = "$NC_NETCORE_IP $NC_NETCORE_IP " ] ||
    fail "shared: want both requests from $NC_NETCORE_IP, got from: '$CLIENTS'"
echo "ok: two curls at once on the shared stack, both from $NC_NETCORE_IP"

# 1b. NETCORE_STACK=own: a stack, a TAP and an address of its own for each (the pool).
NETCORE_STACK=own two_curls own
[ "$(tr ' ' '\n' <<<"$CLIENTS" | sort -u | grep -c .)" -eq 2 ] ||
    fail "NETCORE_STACK=own: want two different client addresses, got: '$CLIENTS'"
echo "ok: two curls at once with NETCORE_STACK=own, from $CLIENTS"

# 2. git clone over HTTP: git runs git-remote-http, a child process, for the transfer.
git init -q "$tmp/src"
head -c 1M /dev/urandom >"$tmp/src/blob"
git -C "$tmp/src" add blob
git -C "$tmp/src" -c user.email=t@netcore.test -c user.name=t commit -qm one
git clone -q --bare "$tmp/src" "$tmp/www/repo.git"
git -C "$tmp/www/repo.git" update-server-info
on_netcore 60 git clone -q "http://$NC_KERNEL_IP:8000/repo.git" "$tmp/clone" ||
    fail "git clone under netcore failed"
[ "$(git -C "$tmp/clone" rev-parse HEAD)" = "$(git -C "$tmp/src" rev-parse HEAD)" ] ||
    fail "the clone's HEAD differs"
[ "$(nc_sha "$tmp/clone/blob")" = "$(nc_sha "$tmp/src/blob")" ] || fail "the cloned blob differs"
echo "ok: git clone over HTTP through netcore"
echo "PASS: test_prog_multi"
