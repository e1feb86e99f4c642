#!/usr/bin/env python3
"""posix_spawn under netcore (tests/test_shim_spawn.sh): spawn.py ADDR PORT, against an echo
server. A child started by os.posix_spawn, or by subprocess with close_fds=False, gets each
netcore socket it could see (inherited, or placed by a dup2 file action) as the parent's
connection on the shared stack (issue 14): an echo through it works, never the parent's
eventfd. The children run without LD_PRELOAD, so what they hold is what posix_spawn gave them
(a relayed socket is a kernel AF_UNIX socket: plain reads and writes move its bytes). The
parent's connection keeps working."""
import os, socket, subprocess, sys
from echoing import echo  # tests/lib, the script's own directory
addr, port = sys.argv[1], int(sys.argv[2])
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
exe = os.path.realpath(sys.executable)

# The child: for each fd given, what it is and an echo through it; exit 1 unless every one is
# a socket whose echo comes back. "gone:FD" asks that FD not be open at all.
CHILD = r"""
import os, sys
bad = 0
for a in sys.argv[1:]:
    gone = a.startswith("gone:")
    fd = int(a.split(":")[-1])
    try:
        what = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        what = "closed"
    if gone:
        print(f"spawned: fd {fd} {what}, want closed", flush=True)
        bad |= what != "closed"
        continue
    msg = f"spawned-fd{fd}".encode()
    try:
        os.write(fd, msg)
        got = b""
        while len(got) < len(msg):
            b = os.read(fd, len(msg) - len(got))
            if not b:
                break
            got += b
        res = "echo ok" if got == msg else f"echo gave {got!r}"
    except OSError as e:
        res = f"echo failed: {e}"
    print(f"spawned: fd {fd} {what.split(':')[0]} {res}", flush=True)
    bad |= not what.startswith("socket:") or res != "echo ok"
sys.exit(bad)
"""

def run(name, pid):
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    print(f"{name}: child exit {code}", flush=True)
    return code

conn = socket.create_connection((addr, port))
echo(conn, b"before")
fd = conn.fileno()
rc = 0

# 1. A socket with FD_CLOEXEC (Python's default) placed on fd 0 by a dup2 file action: fd 0
#    is a stand-in, and fd itself does not reach the child.
pid = os.posix_spawn(exe, [exe, "-c", CHILD, "0", f"gone:{fd}"], env,
                     file_actions=[(os.POSIX_SPAWN_DUP2, fd, 0)])
rc |= run("posix_spawn dup2 onto 0", pid)
echo(conn, b"after-dup2")

# 2. An inherited socket (no FD_CLOEXEC), also dup2'd onto fd 5, and the file actions'
#    own open of /dev/null onto fd 0 left as it is.
os.set_inheritable(fd, True)
pid = os.posix_spawn(exe, [exe, "-c", CHILD, str(fd), "5"], env,
                     file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                                   (os.POSIX_SPAWN_DUP2, fd, 5)])
rc |= run("posix_spawn inherited", pid)
echo(conn, b"after-inherit")

# 3. No file actions at all.
pid = os.posix_spawn(exe, [exe, "-c", CHILD, str(fd)], env)
rc |= run("posix_spawn plain", pid)

# 4. subprocess with close_fds=False (posix_spawn, or vfork and exec).
r = subprocess.run([exe, "-c", CHILD, str(fd)], env=env, close_fds=False)
print(f"subprocess close_fds=False: child exit {r.returncode}", flush=True)
rc |= r.returncode

echo(conn, b"parent-end")
print("parent: connection from", conn.getsockname()[0], "still works", flush=True)
sys.exit(rc)
