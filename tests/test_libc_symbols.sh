#!/bin/bash
# test_libc_symbols.sh — every entry point of the machine's libc that can take a socket fd is
# interposed by libnetcore.so or written down in tests/libc_symbols_left.txt with its reason,
# so that a new glibc cannot add a way around the shim unnoticed (issue 13: sendfile64 and
# syscall(SYS_sendmmsg) reached the kernel with an eventfd). No root needed.
#
# The socket-relevant set: libc's defined functions (nm -D) with a "_"-separated word that
# starts with one of STEMS below, so a new name in a family (a recv*, a *stat*, an epoll_*,
# a __*_chk of one of them) is caught without anyone listing it first.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

STEMS="accept bind close connect copy dup epoll eventfd fadvise fallocate fchdir fchmod fchown
fcntl fdatasync fdopen fexecve fgetxattr flistxattr flock fremovexattr fsetxattr fstat fsync
ftruncate getpeername getsockname getsockopt ioctl isatty isfdtype listen llseek lockf lseek
mmap poll ppoll pread preadv pselect pwrite pwritev read recv select send setsockopt shutdown
sock spawn splice stat sync syscall tcdrain tcflow tcflush tcget tcsendbreak tcset tee ttyname
vmsplice write aio"
LIST=$NC_SRC/tests/libc_symbols_left.txt
LIB=$NC_TOP/preload/.libs/libnetcore.so

command -v nm >/dev/null || nc_skip "nm (binutils) not installed"
[ -f "$LIB" ] || { echo "ERROR: $LIB not built" >&2; exit 99; }
libc=$(ldd "$LIB" | awk '$1 == "libc.so.6" { print $3 }')
[ -f "$libc" ] || { echo "ERROR: no libc.so.6 in ldd $LIB" >&2; exit 99; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Defined function symbols (T, W, i: IFUNCs such as read's), version suffix dropped.
funcs() {
    nm -D --defined-only "$1" | awk '$2 ~ /^[TWi]$/ { sub(/@.*/, "", $3); print $3 }' | sort -u
}
funcs "$libc" >"$tmp/libc"
funcs "$LIB" >"$tmp/ours"
awk -v stems="$STEMS" '
    BEGIN { n = split(stems, s, /[ \n]+/) }
    { k = split($0, w, "_")
      for (i = 1; i <= k; i++)
          for (j = 1; j <= n; j++)
              if (w[i] != "" && index(w[i], s[j]) == 1) { print; next } }' \
    "$tmp/libc" >"$tmp/relevant"

# The rule itself must see the names of issue 13, or it proves nothing.
for must in sendfile64 epoll_pwait2 syscall recv __recv_chk fcntl64 splice fstat; do
    grep -qx "$must" "$tmp/relevant" || fail "rule does not select $must from $libc"
done

# Listed names and families ("name*"); every entry needs a reason.
awk '!/^#/ && NF { if (NF < 2) { print "no reason: " $1; bad = 1 } print $1 > "/dev/stderr" }
     END { exit bad }' "$LIST" 2>"$tmp/listed" >"$tmp/noreason" ||
    fail "entries without a reason in $LIST: $(cat "$tmp/noreason")"
listed() {
    local pat
    while read -r pat; do
        # shellcheck disable=SC2053 # a glob on purpose: "name*" covers a family
        [[ $1 == $pat ]] && return 0
    done <"$tmp/listed"
    return 1
}

missing=() stale=() n_ours=0 n_listed=0
while read -r sym; do
    if grep -qx "$sym" "$tmp/ours"; then
        n_ours=$((n_ours + 1))
        listed "$sym" && stale+=("$sym")
    elif listed "$sym"; then
        n_listed=$((n_listed + 1))
    else
        missing+=("$sym")
    fi
done <"$tmp/relevant"

echo "libc: $libc ($(wc -l <"$tmp/libc") functions, $(wc -l <"$tmp/relevant") socket-relevant)"
echo "interposed: $n_ours; left to the kernel with a reason: $n_listed"
# Interposed and listed: the list is out of date (another branch's interposer, e.g. spawn).
((${#stale[@]} == 0)) || echo "note: interposed, yet listed in $(basename "$LIST"): ${stale[*]}"
if ((${#missing[@]} > 0)); then
    printf 'FAIL: neither interposed nor in %s:\n' "$(basename "$LIST")" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi
echo "PASS: test_libc_symbols"
