#!/bin/bash
# test_run_refuse.sh — `netcore run` refuses, with the reason and exit 126, each program that
# LD_PRELOAD cannot reach and that would run on the kernel's stack unnoticed, and the program
# does not run: statically linked (also static-pie), a Go build ID note, a 32-bit ELF, a
# set-user-ID copy (to another user), file capabilities (for a user other than root), a
# library its user cannot read (as nobody), a script whose #!/usr/bin/env leads to a static
# program; and, refused by the library at the exec, the static program exec'd by a shell or
# by a #!/bin/sh wrapper. --allow-kernel runs it (the server sees the kernel's address). The same program
# built dynamically, a set-user-ID-root copy and a capable copy run by root, and a #!/bin/sh
# script run on netcore (the server sees 198.18.0.2 and the data's sha256).
# NETCORE_LOG=info says once that the library is loaded; the default says nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
command -v setcap >/dev/null || nc_skip "setcap not installed (libcap2-bin)"
command -v objcopy >/dev/null || nc_skip "objcopy not installed (binutils)"
for p in runclient runclient_static runclient_spie; do
    [ -x "$NC_TOP/tests/$p" ] || { echo "ERROR: tests/$p not built" >&2; exit 99; }
done
nc_ns_setup
# World-readable: user nobody runs part of this (the tree may sit in a root-only directory).
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
chmod 755 "$tmp"
mkdir -m 1777 "$tmp/mark"
mkdir -m 755 "$tmp/bin" "$tmp/lib"
cp "$NC_TOP/tests/runclient" "$NC_TOP/tests/runclient_static" "$NC_TOP/tests/runclient_spie" \
    "$tmp/bin/"
head -c 300000 /dev/urandom >"$tmp/data"
chmod 644 "$tmp/data"
want=$(nc_sha "$tmp/data")
port=7430

# The kernel-side server prints "ADDRESS SHA256" for each connection once it ends.
cat >"$tmp/server.py" <<'PY'
import hashlib, socket, sys
s = socket.create_server((sys.argv[1], int(sys.argv[2])))
while True:
    c, (ip, _) = s.accept()
    h = hashlib.sha256()
    with c:
        while b := c.recv(65536):
            h.update(b)
    print(ip, h.hexdigest(), flush=True)
PY
exec {srv}< <(exec ip netns exec "$NC_NS" python3 "$tmp/server.py" "$NC_KERNEL_IP" "$port")
NC_PIDS+=("$!")
nc_wait_listen "$port" "$NC_KERNEL_IP"

# try NAME [ENV...] -- RUN-ARGS...: netcore run RUN-ARGS as root in NC_NS, the program's
# first argument being the mark file NAME; rc and err (its stderr) are set.
try() {
    local name=$1
    shift
    local -a env=()
    while [ "$1" != -- ]; do env+=("$1"); shift; done
    shift
    rm -f "$tmp/mark/$name"
    rc=0
    env "${env[@]}" "$NC_SRC/netcore" run --ns "$NC_NS" "$@" 2>"$tmp/err" || rc=$?
    err=$(cat "$tmp/err")
}

# refused NAME REASON: the last try was refused for REASON and the program did not run.
refused() {
    [ "$rc" -eq 126 ] || fail "$1: exit $rc, want 126 (refused); stderr: $err"
    grep -qF -- "$2" <<<"$err" || fail "$1: the message does not say '$2': $err"
    grep -qF -- "pass --allow-kernel" <<<"$err" ||
        fail "$1: the message does not name --allow-kernel"
    [ "$(wc -l <<<"$err")" -eq 1 ] || fail "$1: want one line on stderr: $err"
    [ ! -e "$tmp/mark/$1" ] || fail "$1: refused, yet the program ran"
    echo "ok: $1 refused: $err"
}

# ran_from NAME ADDRESS: the last try ran the program, and the server got the data from
# ADDRESS.
ran_from() {
    local ip sum
    [ "$rc" -eq 0 ] || fail "$1: exit $rc; stderr: $err"
    [ -e "$tmp/mark/$1" ] || fail "$1: the program did not run"
    read -r -t 20 -u "$srv" ip sum || fail "$1: the server saw no connection"
    [ "$ip" = "$2" ] || fail "$1: the server saw $ip, want $2"
    [ "$sum" = "$want" ] || fail "$1: the server got sha256 $sum, want $want"
    echo "ok: $1 ran, the server saw $ip and the data's sha256"
}

args() {  # args NAME: the program's arguments after its path
    printf '%s\n' "$tmp/mark/$1" "$NC_KERNEL_IP" "$port" "$tmp/data"
}

mapfile -t a <<<"$(args dynamic)"
try dynamic -- -- "$tmp/bin/runclient" "${a[@]}"
ran_from dynamic "$NC_NETCORE_IP"
grep -q 'libnetcore.so loaded' <<<"$err" && fail "the default NETCORE_LOG says: $err"

mapfile -t a <<<"$(args info)"
try info NETCORE_LOG=info -- -- "$tmp/bin/runclient" "${a[@]}"
ran_from info "$NC_NETCORE_IP"
line="^netcore\[[0-9]*\]: info: libnetcore.so loaded in $tmp/bin/runclient:"
n=$(grep -c "$line" <<<"$err") || true
[ "$n" -eq 1 ] || fail "NETCORE_LOG=info: $n start lines, want 1: $err"
echo "ok: NETCORE_LOG=info: $(grep 'libnetcore.so loaded' <<<"$err")"

mapfile -t a <<<"$(args static)"
try static -- -- "$tmp/bin/runclient_static" "${a[@]}"
refused static "$tmp/bin/runclient_static is statically linked"

mapfile -t a <<<"$(args spie)"
try spie -- -- "$tmp/bin/runclient_spie" "${a[@]}"
refused spie "$tmp/bin/runclient_spie is statically linked"

# --allow-kernel: it runs, on the kernel's stack (the bridge's own address), after a warning.
mapfile -t a <<<"$(args static)"
try static -- --allow-kernel -- "$tmp/bin/runclient_static" "${a[@]}"
grep -q -- '--allow-kernel: .* is statically linked.*it may bypass netcore' <<<"$err" ||
    fail "--allow-kernel: no warning: $err"
ran_from static "$NC_KERNEL_IP"

# Go: the toolchain's build ID note (owner "Go", type 4) on the dynamic program.
python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<III", 4, 8, 4) +
    b"Go\0\0" + b"buildid!")' >"$tmp/note"
objcopy --add-section .note.go.buildid="$tmp/note" "$tmp/bin/runclient" "$tmp/bin/goclient"
mapfile -t a <<<"$(args go)"
try go -- -- "$tmp/bin/goclient" "${a[@]}"
refused go "$tmp/bin/goclient is a Go program"

# A 32-bit ELF header (i386), refused before anything runs it.
python3 -c 'import struct, sys; sys.stdout.buffer.write(b"\x7fELF\x01\x01\x01" + bytes(9) +
    struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x8048000, 52, 0, 0, 52, 32, 0, 40, 0, 0))' \
    >"$tmp/bin/elf32"
chmod 755 "$tmp/bin/elf32"
try elf32 -- -- "$tmp/bin/elf32"
refused elf32 "$tmp/bin/elf32 is a 32-bit program"

# Set-user-ID: to another user, refused; to the user running it (root), it runs on netcore.
install -m 4755 -o nobody "$tmp/bin/runclient" "$tmp/bin/suid_nobody"
mapfile -t a <<<"$(args suid)"
try suid -- -- "$tmp/bin/suid_nobody" "${a[@]}"
refused suid "$tmp/bin/suid_nobody is set-user-ID (to user nobody)"
install -m 4755 -o root "$tmp/bin/runclient" "$tmp/bin/suid_root"
mapfile -t a <<<"$(args suid_root)"
try suid_root -- -- "$tmp/bin/suid_root" "${a[@]}"
ran_from suid_root "$NC_NETCORE_IP"

# File capabilities: root running it keeps the preload (the kernel asks for no secure mode),
# user nobody would not. As nobody, `netcore run --ns ''` (entering a namespace needs root)
# with a copy of the command and the library that nobody can read.
cp "$tmp/bin/runclient" "$tmp/bin/capclient"
setcap cap_net_bind_service+ep "$tmp/bin/capclient"
mapfile -t a <<<"$(args cap_root)"
try cap_root -- -- "$tmp/bin/capclient" "${a[@]}"
ran_from cap_root "$NC_NETCORE_IP"
cp "$NC_SRC/netcore" "$tmp/bin/netcore"
cp "$NETCORE_LIBDIR/libnetcore.so" "$tmp/lib/"
chmod 755 "$tmp/bin/netcore" "$tmp/lib/libnetcore.so"
as_nobody() {  # as_nobody NAME LIBDIR PROGRAM: netcore run --ns '' as nobody; sets rc, err
    rm -f "$tmp/mark/$1"
    rc=0
    # From /: the test's own directory may be closed to nobody.
    (cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups -- env NETCORE_LIBDIR="$2" \
        "$tmp/bin/netcore" run --ns '' -- "$3" "$tmp/mark/$1" "$NC_KERNEL_IP" "$port" \
        "$tmp/data") 2>"$tmp/err" || rc=$?
    err=$(cat "$tmp/err")
}
as_nobody cap "$tmp/lib" "$tmp/bin/capclient"
refused cap "$tmp/bin/capclient has file capabilities (cap_net_bind_service=ep)"

# A library its user cannot read: the directory holding it is root's alone.
mkdir -m 700 "$tmp/private"
cp "$NETCORE_LIBDIR/libnetcore.so" "$tmp/private/"
as_nobody unreadable "$tmp/private" "$tmp/bin/runclient"
refused unreadable "$tmp/private/libnetcore.so cannot be read by user nobody"
grep -qF "directory $tmp/private (mode 700, owner root)" <<<"$err" ||
    fail "unreadable: the message does not name the directory: $err"

# Scripts: a #!/bin/sh script runs on netcore; #!/usr/bin/env NAME is looked up in PATH and
# followed to the static program, and the message says so.
printf '#!/bin/sh\nexec "%s" "$@"\n' "$tmp/bin/runclient" >"$tmp/bin/ok.sh"
printf '#!/usr/bin/env runclient_static\n' >"$tmp/bin/env.sh"
chmod 755 "$tmp/bin/ok.sh" "$tmp/bin/env.sh"
mapfile -t a <<<"$(args script)"
try script -- -- "$tmp/bin/ok.sh" "${a[@]}"
ran_from script "$NC_NETCORE_IP"
mapfile -t a <<<"$(args env)"
try env PATH="$tmp/bin:$PATH" -- -- env.sh "${a[@]}"
refused env "$tmp/bin/env.sh runs $tmp/bin/runclient_static, which is statically linked"

# Past run's own check: a program run by a shell (or any exec under netcore) that LD_PRELOAD
# would not reach is refused by the library at the exec (preload/reach.c): the exec fails
# (EPERM) and one line says why. It ran on the kernel's stack without a word.
exec_refused() {  # exec_refused NAME: the last try's exec of the static program was refused
    [ "$rc" -ne 0 ] || fail "$1: exit 0, the exec was not refused; stderr: $err"
    grep -q "exec of $tmp/bin/runclient_static refused: it is statically linked.*kernel's stack" \
        <<<"$err" || fail "$1: no refusal naming the program and why: $err"
    [ ! -e "$tmp/mark/$1" ] || fail "$1: refused, yet the program ran"
    echo "ok: $1 refused at exec: $(grep 'refused' <<<"$err")"
}
mapfile -t a <<<"$(args shexec)"
try shexec -- -- /bin/sh -c 'exec "$@"' sh "$tmp/bin/runclient_static" "${a[@]}"
exec_refused shexec
printf '#!/bin/sh\nexec "%s" "$@"\n' "$tmp/bin/runclient_static" >"$tmp/bin/wrap.sh"
chmod 755 "$tmp/bin/wrap.sh"
mapfile -t a <<<"$(args wrap)"
try wrap -- -- "$tmp/bin/wrap.sh" "${a[@]}"
exec_refused wrap
mapfile -t a <<<"$(args wrap)"
try wrap -- --allow-kernel -- "$tmp/bin/wrap.sh" "${a[@]}"
grep -q "NETCORE_ALLOW_KERNEL=1: $tmp/bin/runclient_static is statically linked" <<<"$err" ||
    fail "wrap --allow-kernel: no warning at the exec: $err"
ran_from wrap "$NC_KERNEL_IP"

echo "PASS: test_run_refuse"
