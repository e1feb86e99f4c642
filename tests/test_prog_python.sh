#!/bin/bash
# test_prog_python.sh — unmodified python3 on netcore: (a) a socket + selectors client
# (DefaultSelector, i.e. epoll; non-blocking connect) and (b) an asyncio client each send 8 MiB
# to a kernel-side echo server and get the same 8 MiB back; (c) `python3 -m http.server` on
# netcore serves a 16 MiB file to kernel-side curl. Content is checked with sha256.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

# same FILE WANT WHAT: FILE's sha256 is WANT.
same() {
    local got
    [ -f "$1" ] || fail "$3: no output file"
    got=$(nc_sha "$1")
    [ "$got" = "$2" ] || fail "$3: sha256 $got ($(stat -c %s "$1") bytes), want $2"
    echo "$3: sha256 ok"
}

nc_require_root
for p in python3 socat curl; do
    command -v "$p" >/dev/null || nc_skip "$p not installed"
done
nc_ns_setup

tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
mkdir "$tmp/www"
head -c 8M /dev/urandom >"$tmp/echo.bin"
head -c 16M /dev/urandom >"$tmp/www/big.bin"
want=$(nc_sha "$tmp/echo.bin")

# Kernel-side echo server: one cat per connection.
nc_bg socat "TCP-LISTEN:9201,bind=$NC_KERNEL_IP,reuseaddr,fork" EXEC:cat
nc_wait_listen 9201 "$NC_KERNEL_IP"

# (a) selectors: non-blocking connect (EINPROGRESS, wait writable, SO_ERROR), then send and
# receive at once; shutdown(SHUT_WR) after the last byte; read to EOF.
cat >"$tmp/sel.py" <<'EOF'
import errno, selectors, socket, sys
host, port, src, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
data = memoryview(open(src, "rb").read())
sel = selectors.DefaultSelector()
print("selector:", type(sel).__name__)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setblocking(False)
rc = s.connect_ex((host, port))
assert rc in (0, errno.EINPROGRESS), errno.errorcode.get(rc, rc)
sel.register(s, selectors.EVENT_WRITE)
assert sel.select(timeout=10), "connect: not writable after 10 s"
err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
assert err == 0, "connect: SO_ERROR " + errno.errorcode.get(err, str(err))
sel.modify(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
sent, got, eof = 0, bytearray(), False
while not eof:
    events = sel.select(timeout=10)
    assert events, "no progress for 10 s: sent %d, got %d" % (sent, len(got))
    for _, ev in events:
        if ev & selectors.EVENT_WRITE and sent < len(data):
            try:
                sent += s.send(data[sent:sent + 65536])
            except BlockingIOError:
                pass
            if sent == len(data):
                s.shutdown(socket.SHUT_WR)
                sel.modify(s, selectors.EVENT_READ)
        if ev & selectors.EVENT_READ:
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            if not chunk:
                eof = True
            got += chunk
s.close()
open(dst, "wb").write(got)
print("sent", sent, "received", len(got))
EOF
rc=0
on_netcore 30 python3 "$tmp/sel.py" "$NC_KERNEL_IP" 9201 "$tmp/echo.bin" "$tmp/sel.out" \
    >"$tmp/sel.log" 2>&1 || rc=$?
cat "$tmp/sel.log"
[ "$rc" -eq 0 ] || fail "selectors client on netcore: exit $rc"
grep -qx "selector: EpollSelector" "$tmp/sel.log" || fail "DefaultSelector is not epoll"
same "$tmp/sel.out" "$want" "(a) selectors echo, 8 MiB"

# (b) asyncio: a writer task (write, drain, write_eof) and the reader to EOF, concurrently.
cat >"$tmp/aio.py" <<'EOF'
import asyncio, sys
host, port, src, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
data = open(src, "rb").read()

async def main():
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    async def send():
        for i in range(0, len(data), 65536):
            writer.write(data[i:i + 65536])
            await writer.drain()
        writer.write_eof()
    task = asyncio.create_task(send())
    got = bytearray()
    while chunk := await asyncio.wait_for(reader.read(65536), 10):
        got += chunk
    await task
    writer.close()
    await writer.wait_closed()
    open(dst, "wb").write(got)
    print("loop:", type(asyncio.get_running_loop()).__name__, "received", len(got))

asyncio.run(main())
EOF
rc=0
on_netcore 30 python3 "$tmp/aio.py" "$NC_KERNEL_IP" 9201 "$tmp/echo.bin" "$tmp/aio.out" \
    >"$tmp/aio.log" 2>&1 || rc=$?
cat "$tmp/aio.log"
[ "$rc" -eq 0 ] || fail "asyncio client on netcore: exit $rc"
same "$tmp/aio.out" "$want" "(b) asyncio echo, 8 MiB"

# (c) http.server on netcore, kernel-side curl, once the server says it serves (it has
# listened by then).
nc_bg_run python3 -u -m http.server 9203 --bind "$NC_NETCORE_IP" --directory "$tmp/www" \
    >"$tmp/http.log" 2>&1
nc_wait_line "$tmp/http.log" "^Serving HTTP on $NC_NETCORE_IP port 9203" "$NC_LAST_PID"
rc=0
ip netns exec "$NC_NS" curl -sS --max-time 30 -o "$tmp/got.bin" \
    "http://$NC_NETCORE_IP:9203/big.bin" || rc=$?
[ "$rc" -eq 0 ] ||
    { cat "$tmp/http.log" >&2; fail "kernel curl from http.server on netcore: exit $rc"; }
same "$tmp/got.bin" "$(nc_sha "$tmp/www/big.bin")" "(c) http.server on netcore, 16 MiB"
grep -q "^$NC_KERNEL_IP - .*\"GET /big.bin HTTP/1.1\" 200" "$tmp/http.log" ||
    { cat "$tmp/http.log" >&2; fail "http.server log lacks GET from $NC_KERNEL_IP"; }

echo "PASS: test_prog_python"
