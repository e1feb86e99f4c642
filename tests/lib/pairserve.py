"""HTTP file server for tests that need two clients at once: python3 pairserve.py DIR ADDR PORT.

Each GET waits until a second request is in (a barrier of two) before it answers, so two
clients started together are both connected, each with its stack up, before either gets a
byte; without that, the first transfer can end before the second client starts. Logs
"CLIENT-ADDRESS GET PATH" per request on stdout and says "listening" once it listens.
"""
import http.server
import sys
import threading

root, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
both = threading.Barrier(2, timeout=30)
log_lock = threading.Lock()


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kw):
        super().__init__(*args, directory=root, **kw)

    def do_GET(self):
        # One write under a lock: print() writes its parts separately, and two requests
        # arrive together here by design, so their lines would interleave.
        with log_lock:
            sys.stdout.write("%s GET %s\n" % (self.client_address[0], self.path))
            sys.stdout.flush()
        both.wait()  # a BrokenBarrierError after 30 s fails the request, and the test
        super().do_GET()

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer((addr, port), Handler)
print("listening", flush=True)
srv.serve_forever()
