#!/usr/bin/env python3
"""Limits through the shim (tests/test_load.sh).

limits.py sockets N          create TCP sockets until one fails: expect exactly N, then EMFILE
limits.py listen ADDR PORT B listen with backlog B, never accept; print "listening", then wait
                             for stdin to close
limits.py connect ADDR PORT K B
                             open K non-blocking connections at once; expect B+1 established
                             (the listener's queue is full beyond its backlog and further SYNs
                             are dropped), and still B+1 after the clients' first SYN retry
"""
import errno
import select
import socket
import sys
import time


def sockets(n):
    made = []
    while True:
        try:
            made.append(socket.socket())
        except OSError as e:
            if e.errno != errno.EMFILE:
                sys.exit(f"socket #{len(made) + 1}: {e}, want EMFILE")
            break
        if len(made) > n:
            sys.exit(f"more than {n} sockets created")
    if len(made) != n:
        sys.exit(f"{len(made)} sockets before EMFILE, want {n}")
    print(f"ok: {n} sockets, then EMFILE")


def listen(addr, port, backlog):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(backlog)
    print("listening", flush=True)
    sys.stdin.read()


def established(cs):
    _, w, _ = select.select([], cs, [], 0)
    return [c for c in w if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0]


def connect(addr, port, k, backlog):
    cs = []
    for _ in range(k):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex((addr, port))
        cs.append(c)
    want = backlog + 1
    deadline = time.monotonic() + 10
    while len(established(cs)) < want and time.monotonic() < deadline:
        select.select([], [], [], 0.05)
    got = len(established(cs))
    if got != want:
        sys.exit(f"{got} of {k} connections established, want {want} (backlog {backlog})")
    # A dropped SYN is retried after 1 s: watch past that retry for a wrongly taken one.
    time.sleep(1.5)
    got = len(established(cs))
    if got != want:
        sys.exit(f"{got} established after the SYN retry, want still {want}")
    print(f"ok: {want} of {k} established with backlog {backlog}, the rest held off")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "sockets":
        sockets(int(sys.argv[2]))
    elif cmd == "listen":
        listen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "connect":
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
