#!/usr/bin/env python3
"""fork and exec under netcore (tests/test_shim_fork.sh): fork.py ADDR PORT, against an echo
server. The parent's connection survives a child; the child's inherited socket fails with
ENOTCONN and the child's own connection works (from its own address); a program exec'd by
subprocess (vfork + execve) with the socket's fd passed starts clean and connects too."""
import errno, os, socket, subprocess, sys
from echoing import echo  # tests/lib, the script's own directory
addr, port = sys.argv[1], int(sys.argv[2])

parent = socket.create_connection((addr, port))
echo(parent, b"parent-before")
pid = os.fork()
if pid == 0:
    code = 0
    for name, call in (("send", lambda: parent.send(b"x")), ("recv", lambda: parent.recv(1)),
                       ("read", lambda: os.read(parent.fileno(), 1))):
        try:
            call()
            print(f"child: {name} on the inherited socket worked", flush=True)
            code = 1
        except OSError as e:
            if e.errno != errno.ENOTCONN:
                print(f"child: {name} on the inherited socket: {e}, want ENOTCONN", flush=True)
                code = 1
    mine = socket.create_connection((addr, port))
    echo(mine, b"child-own")
    print("child: own connection from", mine.getsockname()[0], flush=True)
    mine.close()
    parent.close()
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
import socket, os, errno
try:
    os.read({parent.fileno()}, 1)
    print("exec: inherited fd readable"); raise SystemExit(1)
except OSError as e:
    assert e.errno in (errno.ENOTCONN, errno.EBADF), e
s = socket.create_connection(("{addr}", {port}))
s.sendall(b"exec"); assert s.recv(4) == b"exec"
print("exec: own connection from", s.getsockname()[0])
"""], pass_fds=[parent.fileno()], capture_output=True, text=True)
print(r.stdout, r.stderr, end="")
echo(parent, b"parent-end")
sys.exit(os.waitstatus_to_exitcode(status) or r.returncode)
