#!/bin/bash
# test_install.sh — `make install` into a scratch prefix puts the library, the netcore command,
# its ELF checker, the header, netcore.pc and both manual pages in place; the installed
# command, away from any source tree, preloads the installed library, not the build's: curl
# and python3 started by it talk to kernel-side peers through netcore; `make uninstall` takes
# every file away again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

nc_require_root
for p in curl python3 make; do
    command -v "$p" >/dev/null || nc_skip "$p not installed"
done
[ -f "$NC_TOP/Makefile" ] || nc_skip "$NC_TOP is not a configured build tree"
nc_ns_setup
tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
prefix=$tmp/prefix

# mk TARGET: make TARGET in the build tree with prefix= on the command line, which moves the
# whole install without reconfiguring the tree other tests are running from. The make check
# that runs this test has its own jobserver; a nested make must not try to join it.
mk() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$NC_TOP" "$1" prefix="$prefix" \
        >"$tmp/make-$1.log" 2>&1 ||
        { tail -n 30 "$tmp/make-$1.log" >&2; fail "make $1 prefix=$prefix"; }
}

# 1. The files, each where the prefix says.
mk install
for f in bin/netcore lib/libnetcore.so libexec/netcore/netcore-elfcheck include/netcore.h \
         lib/pkgconfig/netcore.pc share/man/man1/netcore.1 share/man/man7/netcore.7; do
    [ -f "$prefix/$f" ] || fail "make install did not install $f"
done
[ -x "$prefix/bin/netcore" ] || fail "bin/netcore is not executable"
grep -qxF "NETCORE_INSTALLED_LIBDIR='$prefix/lib'" "$prefix/bin/netcore" ||
    fail "bin/netcore does not name its libdir: $(grep '^NETCORE_INSTALLED_LIBDIR' \
          "$prefix/bin/netcore")"
grep -qxF "NETCORE_INSTALLED_LIBEXECDIR='$prefix/libexec/netcore'" "$prefix/bin/netcore" ||
    fail "bin/netcore does not name its ELF checker's directory"
[ -x "$prefix/libexec/netcore/netcore-elfcheck" ] || fail "netcore-elfcheck is not executable"
echo "ok: make install prefix=$prefix: $(cd "$prefix" && find . -type f | sort | tr '\n' ' ')"
# The pages are where man(1) looks for them under that prefix.
if command -v man >/dev/null; then
    for s in 1 7; do
        got=$(man -M "$prefix/share/man" -w "$s" netcore) || fail "man -w $s netcore: $got"
        [ "$got" = "$prefix/share/man/man$s/netcore.$s" ] || fail "man -w $s netcore: $got"
    done
    echo "ok: man finds netcore(1) and netcore(7) under $prefix/share/man"
fi

# The installed command, as a user would run it: no NETCORE_LIBDIR (the suite sets it to the
# build tree, which would win), started from outside the source tree.
installed() {
    (cd / && env -u NETCORE_LIBDIR timeout 60 "$prefix/bin/netcore" "$@")
}
out=$(installed run --help)
grep -qxF "LD_PRELOAD=$prefix/lib/libnetcore.so" <<<"$out" ||
    fail "installed netcore run --help names another library: $out"

# 2. curl on the installed library fetches a file from a kernel-side HTTP server.
mkdir "$tmp/www"
head -c 4M /dev/urandom >"$tmp/www/file.bin"
nc_bg python3 -m http.server 8000 --bind "$NC_KERNEL_IP" --directory "$tmp/www" \
    >"$tmp/server.log" 2>&1
nc_wait_listen 8000 "$NC_KERNEL_IP"
rc=0
installed run --ns "$NC_NS" -- curl -sS --max-time 30 -o "$tmp/got.bin" \
    "http://$NC_KERNEL_IP:8000/file.bin" || rc=$?
[ "$rc" -eq 0 ] || fail "curl under the installed netcore: exit $rc"
[ "$(nc_sha "$tmp/got.bin")" = "$(nc_sha "$tmp/www/file.bin")" ] ||
    fail "curl's copy differs from the file ($(stat -c %s "$tmp/got.bin") bytes)"
grep -q "^$NC_NETCORE_IP - .*\"GET /file.bin HTTP/1.1\" 200" "$tmp/server.log" ||
    { cat "$tmp/server.log" >&2; fail "the server did not see $NC_NETCORE_IP fetch the file"; }
echo "ok: curl on the installed netcore fetched 4 MiB intact, as $NC_NETCORE_IP"

# 3. python3 on the installed library: the library it mapped is the installed one, and its
#    connection to a kernel-side echo peer comes from netcore's address.
nc_peer echo 7400
cat >"$tmp/echo.py" <<'PY'
import socket, sys
lib = {l.split()[-1] for l in open("/proc/self/maps") if "libnetcore" in l}
s = socket.create_connection((sys.argv[1], 7400), timeout=20)
s.sendall(b"installed\n")
got = b""
while len(got) < 10:
    b = s.recv(64)
    if not b:
        break
    got += b
print("lib", " ".join(sorted(lib)))
print("from", s.getsockname()[0])
print("echo", got.decode().strip())
PY
out=$(installed run --ns "$NC_NS" -- python3 "$tmp/echo.py" "$NC_KERNEL_IP") ||
    fail "python3 under the installed netcore: $out"
[ "$(sed -n 's/^lib //p' <<<"$out")" = "$prefix/lib/libnetcore.so" ] ||
    fail "python3 mapped another library: $out"
[ "$(sed -n 's/^from //p' <<<"$out")" = "$NC_NETCORE_IP" ] ||
    fail "python3's socket is not netcore's: $out"
[ "$(sed -n 's/^echo //p' <<<"$out")" = installed ] || fail "python3's echo: $out"
echo "ok: python3 on $prefix/lib/libnetcore.so, from $NC_NETCORE_IP, echo came back"

# 4. make uninstall leaves no file behind.
mk uninstall
left=$(find "$prefix" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "ok: make uninstall removed every file"

echo "PASS: test_install"
