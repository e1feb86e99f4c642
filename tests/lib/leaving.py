#!/usr/bin/env python3
"""A process that drives the shared stack and leaves with its own sockets open
(tests/test_share_leave.sh): leaving.py ADDR PORT HOW, HOW one of _exit, exit, sigterm.
It listens on ADDR:PORT (an open listener and an open connection of its own to it), says
"driver: listening", waits for a line on stdin, then leaves: os._exit(0), sys.exit(0) or
by SIGTERM's default action (no exit handlers)."""
import os, signal, socket, sys
addr, port, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ls = socket.create_server((addr, port))
mine = socket.create_connection((addr, port))  # a connection of its own, on the fast path
conn, _ = ls.accept()
print("driver: listening", flush=True)
sys.stdin.readline()
print("driver: leaving by", how, flush=True)
if how == "_exit":
    os._exit(0)
elif how == "sigterm":
    os.kill(os.getpid(), signal.SIGTERM)
sys.exit(0)
