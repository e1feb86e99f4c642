#!/bin/bash
# test_prog_multi.sh — several processes under netcore in one namespace at once, each on a
# TAP of its own from the pool: two curls started together by one shell, and git clone over
# HTTP (git runs its curl-based helper as a child process). Checked by content; the server
# log must show two different netcore addresses.
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

# 1. Two curls at once from one shell: two processes, two stacks, two TAPs. The server holds
# each answer until both requests are in, so both stacks are up at the same time.
nc_bg python3 "$NC_SRC/tests/lib/pairserve.py" "$tmp/www" "$NC_KERNEL_IP" 8001 \
    >"$tmp/pair.log" 2>&1
nc_wait_listen 8001 "$NC_KERNEL_IP"
on_netcore 60 bash -c 'curl -sS -o "$1/a.out" "$2/a" & curl -sS -o "$1/b.out" "$2/b"; wait $!' \
    multi "$tmp" "http://$NC_KERNEL_IP:8001" || fail "concurrent curls failed"
[ "$(nc_sha "$tmp/a.out")" = "$(nc_sha "$tmp/www/a")" ] || fail "first curl: content differs"
[ "$(nc_sha "$tmp/b.out")" = "$(nc_sha "$tmp/www/b")" ] || fail "second curl: content differs"
clients=$(awk '$2 == "GET" && $3 ~ /^\/[ab]$/ {print $1}' "$tmp/pair.log" | sort -u |
    tr '\n' ' ')
[ "$(wc -w <<<"$clients")" -eq 2 ] ||
    fail "want two client addresses in the server log, got: '$clients'; log: $(cat "$tmp/pair.log")"
echo "ok: two curls at once, from $clients"

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
