"""Kernel-side peers for the shell tests: python3 tests/lib/peer.py MODE ADDR PORT.

One thread per connection. Modes:
  echo      send every byte back until EOF, then close
  count     echo until EOF, then say "EOF <bytes>" and close (half-close tests)
  hello     quiet until a "D" arrives, then "hello" one second later (signal tests)
  close     accept and close at once: a FIN, then RST for anything the client sends
  discard   read and drop everything, never send
  hold      accept and never read (the client's sends fill up)
"""
import contextlib
import socket
import sys
import threading
import time

mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
held = []


def serve(c):
    with c, contextlib.suppress(OSError):
        total = 0
        while True:
            b = c.recv(262144)
            if not b:
                break
            total += len(b)
            if mode in ("echo", "count"):
                c.sendall(b)
            elif mode == "hello" and b"D" in b:
                time.sleep(1)
                c.sendall(b"hello")
        if mode == "count":
            c.sendall(b"EOF %d\n" % total)


s = socket.create_server((addr, port), backlog=64)
while True:
    c, _ = s.accept()
    if mode == "close":
        c.close()
    elif mode == "hold":
        held.append(c)
    else:
        threading.Thread(target=serve, args=(c,), daemon=True).start()
