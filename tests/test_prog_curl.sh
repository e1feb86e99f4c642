#!/bin/bash
# test_prog_curl.sh — unmodified curl on netcore against a kernel-side python3 HTTP server:
# a 64 MiB GET and a 16 MiB POST upload arrive intact (sha256), `curl -v` reports the
# connection to 198.18.0.1, and the server logs client 198.18.0.2.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

PORT=8000

nc_require_root
for p in curl python3; do
    command -v "$p" >/dev/null || nc_skip "$p not installed"
done
nc_ns_setup

tmp=$(mktemp -d)
nc_at_exit "rm -rf '$tmp'"
mkdir "$tmp/www"
head -c 64M /dev/urandom >"$tmp/www/big.bin"
head -c 16M /dev/urandom >"$tmp/up.bin"

# Kernel side: http.server serving $tmp/www for GET; a POST writes its body to $tmp/posted.bin
# and answers with the body's sha256. Each request is logged with the client's address.
cat >"$tmp/server.py" <<'EOF'
import hashlib, http.server, sys

class Handler(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        left = int(self.headers["Content-Length"])
        h = hashlib.sha256()
        with open(OUT, "wb") as f:
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                f.write(chunk)
                h.update(chunk)
                left -= len(chunk)
        body = (h.hexdigest() + "\n").encode()
        self.send_response(200 if left == 0 else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ADDR, PORT, ROOT, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
handler = lambda *a, **kw: Handler(*a, directory=ROOT, **kw)
http.server.ThreadingHTTPServer((ADDR, PORT), handler).serve_forever()
EOF
nc_bg python3 -u "$tmp/server.py" "$NC_KERNEL_IP" "$PORT" "$tmp/www" "$tmp/posted.bin" \
    >"$tmp/server.log" 2>&1
nc_wait_listen "$PORT" "$NC_KERNEL_IP"

url=http://$NC_KERNEL_IP:$PORT

# GET 64 MiB, verbose: curl's own report names the peer it connected to.
rc=0
on_netcore 60 curl -sS -v --max-time 50 -o "$tmp/got.bin" "$url/big.bin" \
    2>"$tmp/curl-get.err" || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/curl-get.err" >&2; fail "curl GET on netcore: exit $rc"; }
grep -q "Connected to $NC_KERNEL_IP ($NC_KERNEL_IP) port $PORT" "$tmp/curl-get.err" ||
    { cat "$tmp/curl-get.err" >&2; fail "curl -v does not show 'Connected to $NC_KERNEL_IP'"; }
want=$(nc_sha "$tmp/www/big.bin")
got=$(nc_sha "$tmp/got.bin")
[ "$got" = "$want" ] ||
    fail "GET big.bin: sha256 $got ($(stat -c %s "$tmp/got.bin") bytes), want $want"
echo "GET 64 MiB: sha256 ok; $(grep -o "Connected to .*" "$tmp/curl-get.err" | head -1)"

# POST 16 MiB: the server's copy and its reported sha equal the file's.
rc=0
reply=$(on_netcore 60 curl -sS --max-time 50 --data-binary "@$tmp/up.bin" \
    -H 'Content-Type: application/octet-stream' "$url/upload") || rc=$?
[ "$rc" -eq 0 ] || fail "curl POST on netcore: exit $rc"
want=$(nc_sha "$tmp/up.bin")
[ -f "$tmp/posted.bin" ] || fail "POST: server wrote nothing"
got=$(nc_sha "$tmp/posted.bin")
[ "$got" = "$want" ] ||
    fail "POST up.bin: server got sha256 $got ($(stat -c %s "$tmp/posted.bin") bytes), want $want"
[ "$reply" = "$want" ] || fail "POST reply '$reply', want '$want'"
echo "POST 16 MiB: sha256 ok"

# The server saw both requests coming from netcore's address.
grep -q "^$NC_NETCORE_IP - .*\"GET /big.bin HTTP/1.1\" 200" "$tmp/server.log" ||
    { cat "$tmp/server.log" >&2; fail "server log lacks GET from $NC_NETCORE_IP"; }
grep -q "^$NC_NETCORE_IP - .*\"POST /upload HTTP/1.1\" 200" "$tmp/server.log" ||
    { cat "$tmp/server.log" >&2; fail "server log lacks POST from $NC_NETCORE_IP"; }
grep "^$NC_NETCORE_IP " "$tmp/server.log"

echo "PASS: test_prog_curl"
