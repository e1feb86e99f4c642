#!/usr/bin/env python3
"""Programs for tests/test_share_hosts.sh (several servers and clients on one shared stack):
hosting.py MODE ARGS...

  daemon ADDR PORT FILE exit|_exit
                          listens on ADDR:PORT, forks and exits at once from the parent, with
                          exit(3) (sys.exit: atexit handlers run) or _exit(2) (os._exit, as
                          daemon(3) does); the child (a new session) sends FILE to every
                          connection and closes it. Prints "daemon: child PID" from the
                          parent and "daemon: serving pid PID" from the child.
  client PEER PEERPORT ADDR HTTPPORT ECHOPORT PATH
                          on netcore beside the servers: echoes 64 KiB with the kernel-side
                          echo peer PEER:PEERPORT and prints its own address; GETs PATH from
                          the web server ADDR:HTTPPORT and prints the body's SHA-256; echoes
                          64 KiB with the echo server ADDR:ECHOPORT
"""
import hashlib, http.client, os, socket, sys


def say(*a):
    print(*a, flush=True)


def echo(addr, port, size):
    data = os.urandom(size)
    s = socket.create_connection((addr, port), timeout=20)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    mine = s.getsockname()[0]
    s.close()
    if got != data:
        raise SystemExit(f"client: echo with {addr}:{port}: {len(got)} bytes back of {size}, differing")
    return mine


def main(mode, args):
    if mode == "daemon":
        addr, port, path, how = args[0], int(args[1]), args[2], args[3]
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, port))
        ls.listen(16)
        pid = os.fork()
        if pid:
            say(f"daemon: child {pid}")
            if how == "_exit":
                os._exit(0)
            sys.exit(0)
        os.setsid()
        with open(path, "rb") as f:
            body = f.read()
        say(f"daemon: serving pid {os.getpid()}")
        while True:
            c, _ = ls.accept()
            c.sendall(body)
            c.close()
    elif mode == "client":
        peer, pport, addr, hport, eport, path = args
        mine = echo(peer, int(pport), 65536)
        say(f"client: echo with the kernel-side peer from {mine}")
        h = http.client.HTTPConnection(addr, int(hport), timeout=20)
        h.request("GET", path)
        r = h.getresponse()
        body = r.read()
        say(f"client: GET {path} from {addr}:{hport}: {r.status}, {len(body)} bytes, "
            f"sha256 {hashlib.sha256(body).hexdigest()}")
        echo(addr, int(eport), 65536)
        say(f"client: echo with {addr}:{eport} byte-identical")
    else:
        sys.exit(f"hosting.py: unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
