#!/usr/bin/env python3
"""fork and exec under netcore (tests/test_shim_fork.sh): fork.py ADDR PORT, against an echo
server. One stack is shared by the processes that use it (issue 14): a forked child's
inherited socket is the parent's connection (an echo through it works, and the parent's goes
on working after it), the child's own connection comes from the same address as the parent's;
an exec that fails leaves the socket as it was; a program exec'd by subprocess (vfork +
execve) with the socket's fd passed uses that connection too, and its own connection comes
from the same address."""
import os, socket, subprocess, sys
from echoing import echo  # tests/lib, the script's own directory
addr, port = sys.argv[1], int(sys.argv[2])

parent = socket.create_connection((addr, port))
echo(parent, b"parent-before")
pid = os.fork()
if pid == 0:
    code = 0
    try:
        echo(parent, b"child-through-inherited")
        os.write(parent.fileno(), b"child-write")
        assert os.read(parent.fileno(), 64) == b"child-write"
        print("child: the inherited socket works, from", parent.getsockname()[0], flush=True)
    except (OSError, AssertionError, SystemExit) as e:
        print(f"child: the inherited socket: {e!r}", flush=True)
        code = 1
    mine = socket.create_connection((addr, port))
    echo(mine, b"child-own")
    print("child: own connection from", mine.getsockname()[0], flush=True)
    mine.close()
    parent.close()  # the child's copy only: the parent's connection lives on
    os._exit(code)
_, status = os.waitpid(pid, 0)
echo(parent, b"parent-after")
print("parent: connection from", parent.getsockname()[0], "still works", flush=True)
# An exec that fails leaves this image as it was: its socket still works.
try:
    os.execv("/nonexistent/netcore-test", ["x"])
except OSError:
    pass
echo(parent, b"after-failed-exec")
print("parent: connection still works after a failed exec", flush=True)
# exec: a fresh program image under the shim, inheriting the socket's fd number.
r = subprocess.run([sys.executable, "-c", f"""
import socket, os
s = socket.socket(fileno=os.dup({parent.fileno()}))
s.sendall(b"exec-inherited"); assert s.recv(64) == b"exec-inherited"
print("exec: the inherited socket works, peer", s.getpeername()[0])
s.close()
s = socket.create_connection(("{addr}", {port}))
s.sendall(b"exec"); assert s.recv(4) == b"exec"
print("exec: own connection from", s.getsockname()[0])
"""], pass_fds=[parent.fileno()], capture_output=True, text=True)
sys.stdout.write(r.stdout + r.stderr)
sys.stdout.flush()
echo(parent, b"parent-end")
print("parent: connection still works after the exec'd program", flush=True)
sys.exit(os.waitstatus_to_exitcode(status) or r.returncode)
