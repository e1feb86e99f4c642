#!/usr/bin/env python3
"""Echo servers for the shared-stack tests (tests/test_share_*.sh), run on netcore:
echoserve.py MODE ADDR PORT. Every connection gets back what it sends, until EOF; then the
server shuts its side down. Prints "listening on ADDR PORT pid PID" once it listens.
  thread     socketserver.ThreadingTCPServer: one process
  fork       socketserver.ForkingTCPServer, as stock: the parent accepts, forks, closes its copy
  closefirst fork per connection, and the child starts echoing only once the parent has closed
             its copy (told through a pipe): the transfer happens entirely after the parent's
             close; prints "parent closed connection N" for each
"""
import os, signal, socket, socketserver, sys

mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


def echo_until_eof(conn):
    while True:
        b = conn.recv(262144)
        if not b:
            break
        conn.sendall(b)
    conn.shutdown(socket.SHUT_WR)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        echo_until_eof(self.request)


def ready(s):
    print(f"listening on {s.getsockname()[0]} {s.getsockname()[1]} pid {os.getpid()}", flush=True)


if mode in ("thread", "fork"):
    cls = socketserver.ThreadingTCPServer if mode == "thread" else socketserver.ForkingTCPServer
    cls.allow_reuse_address = True
    cls.daemon_threads = True
    with cls((addr, port), Echo) as srv:
        ready(srv.socket)
        srv.serve_forever()
elif mode == "closefirst":
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the kernel
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(16)
    ready(ls)
    n = 0
    while True:
        conn, _ = ls.accept()
        n += 1
        r, w = os.pipe()
        if os.fork() == 0:
            ls.close()
            os.close(w)
            # Wait for the parent's close: EOF on the pipe (its write end closed with it).
            os.read(r, 1)
            os.close(r)
            try:
                echo_until_eof(conn)
                conn.close()
                os._exit(0)
            except OSError as e:
                print(f"child {n}: {e}", flush=True)
                os._exit(1)
        os.close(r)
        conn.close()
        print(f"parent closed connection {n}", flush=True)
        os.close(w)
else:
    sys.exit(f"echoserve.py: unknown mode {mode}")
