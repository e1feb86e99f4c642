#!/bin/bash
# test_shim_spawn.sh — children of posix_spawn (tests/lib/spawn.py): a netcore socket placed
# on fd 0 by a dup2 file action, inherited without FD_CLOEXEC, or inherited through subprocess
# with close_fds=False reaches the child as the parent's connection on the shared stack (issue
# 14): an echo through it works, even in a child without the preload, and the child never
# gets the parent's eventfd; the parent's connection keeps working, checked by content.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
nc_peer echo 7420
on_netcore 60 python3 "$NC_SRC/tests/lib/spawn.py" "$NC_KERNEL_IP" 7420 >"$tmp/out" 2>&1 ||
    { cat "$tmp/out" >&2; fail "spawn.py exited non-zero"; }
cat "$tmp/out"
[ "$(grep -c '^spawned: fd [0-9]* socket echo ok$' "$tmp/out")" -eq 5 ] ||
    fail "want 5 fds in children echoing through the parent's connection"
grep -q 'anon_inode' "$tmp/out" && fail "a child got an eventfd"
[ "$(grep -c ': child exit 0$' "$tmp/out")" -eq 4 ] || fail "want 4 children exiting 0"
grep -qx "parent: connection from $NC_NETCORE_IP still works" "$tmp/out" ||
    fail "the parent's connection did not survive its children"
echo "PASS: test_shim_spawn"
