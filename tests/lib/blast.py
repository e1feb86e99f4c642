#!/usr/bin/env python3
"""Concurrent echo clients for the shared-stack tests (tests/test_share_*.sh):
blast.py ADDR PORT CLIENTS BYTES. Each client connects, sends BYTES random bytes (from a thread
of its own, so that the echo's back-pressure cannot stall it), shuts its sending side down and
reads until EOF; what came back must be the same bytes (SHA-256). One line per client, exit 1
when any differs or fails, all within the time the caller allows (timeout(1))."""
import hashlib, os, socket, sys, threading

addr, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
results = [None] * n


def client(i):
    data = os.urandom(size)
    try:
        s = socket.create_connection((addr, port), timeout=30)
        sender_err = []

        def send():
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                sender_err.append(e)

        t = threading.Thread(target=send)
        t.start()
        got = bytearray()
        while True:
            b = s.recv(262144)
            if not b:
                break
            got += b
        t.join()
        s.close()
        if sender_err:
            results[i] = f"send failed: {sender_err[0]}"
        elif hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
            results[i] = f"got {len(got)} bytes back, want {size}: content differs"
        else:
            results[i] = "ok"
    except OSError as e:
        results[i] = f"failed: {e}"


threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
bad = 0
for i, r in enumerate(results):
    print(f"client {i}: {size} bytes echoed {'byte-identical' if r == 'ok' else r}", flush=True)
    bad |= r != "ok"
sys.exit(bad)
