#!/usr/bin/env python3
"""A netcore process blocked in a call when the stack's driver dies (tests/test_share_driver.sh):
stuck.py recv PEER PORT | accept ADDR PORT.

  recv    connects to PEER:PORT (a kernel-side peer that never sends), forks, and the child
          blocks in recv on the inherited connection; the parent waits for it
  accept  listens on ADDR:PORT and blocks in accept

Prints "MODE: blocking pid PID" just before the call, then "MODE: RESULT at T" with T from
time.monotonic() (CLOCK_MONOTONIC: comparable between processes) when the call returns. Exit 0
when the call failed with ECONNRESET or ENETDOWN, 1 otherwise (data, end of stream, another
error)."""
import errno, os, socket, sys, time

mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
GOOD = (errno.ECONNRESET, errno.ENETDOWN)


def block(call):
    print(f"{mode}: blocking pid {os.getpid()}", flush=True)
    try:
        r = call()
        what, ok = f"returned {r!r}", False
    except OSError as e:
        what, ok = errno.errorcode.get(e.errno, str(e.errno)), e.errno in GOOD
    print(f"{mode}: {what} at {time.monotonic():.6f}", flush=True)
    return 0 if ok else 1


if mode == "recv":
    s = socket.create_connection((addr, port))
    pid = os.fork()
    if pid == 0:
        os._exit(block(lambda: s.recv(100)))
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
elif mode == "accept":
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(4)
    sys.exit(block(lambda: ls.accept()[1]))
else:
    sys.exit(f"stuck.py: unknown mode {mode}")
