#!/usr/bin/env python3
"""Sockets handed from one process to another on netcore (tests/test_share_pass.sh):
passing.py MODE ARGS..., every line it prints starting with the role that prints it.

  activate ADDR PORT N   binds and listens on ADDR:PORT, puts the listener on fd 3, sets
                         LISTEN_FDS=1 and LISTEN_PID (socket activation, sd_listen_fds(3)) and
                         execs "served N", which takes fd 3 and echoes N connections
  forkpass ADDR PORT     listens; for one connection: forks a child, sends it the accepted
                         socket with SCM_RIGHTS over an AF_UNIX socketpair, closes its own
                         copy; the child echoes on the socket it received
  recvnamed PATH         binds an AF_UNIX socket at PATH, receives one socket with SCM_RIGHTS
                         from "sendnamed", and echoes through it with the kernel-side echo
                         peer it is connected to (256 KiB of random bytes, checked)
  sendnamed PATH ADDR PORT  connects to the echo peer ADDR:PORT and sends the socket to PATH
  spawn ADDR PORT        connects to the echo peer, makes the socket inheritable and starts a
                         child with os.posix_spawn that echoes 256 KiB through it (checked);
                         the parent's copy keeps working afterwards
"""
import hashlib, os, socket, sys

CHUNK = 256 * 1024


def say(*a):
    print(*a, flush=True)


def echo_until_eof(conn):
    n = 0
    while True:
        b = conn.recv(65536)
        if not b:
            break
        conn.sendall(b)
        n += len(b)
    conn.shutdown(socket.SHUT_WR)
    return n


def echo_check(s, size, who):
    """Sends size random bytes to an echo peer through s and checks what comes back."""
    data = os.urandom(size)
    got = bytearray()
    # The echo peer answers as it reads: send in pieces, reading back as we go.
    for i in range(0, size, 16384):
        s.sendall(data[i:i + 16384])
        while len(got) < min(i + 16384, size) - 8192:
            b = s.recv(65536)
            if not b:
                raise SystemExit(f"{who}: EOF from the echo peer after {len(got)} bytes")
            got += b
    while len(got) < size:
        b = s.recv(65536)
        if not b:
            raise SystemExit(f"{who}: EOF from the echo peer after {len(got)} bytes")
        got += b
    if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        raise SystemExit(f"{who}: {len(got)} bytes came back, not the {size} sent")
    say(f"{who}: {size} bytes echoed byte-identical through {s.getsockname()[0]} -> "
        f"{s.getpeername()[0]}:{s.getpeername()[1]}")


def main(mode, args):
    if mode == "activate":
        addr, port, n = args[0], int(args[1]), args[2]
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, port))
        ls.listen(8)
        if ls.fileno() == 3:
            os.set_inheritable(3, True)
            ls.detach()
        else:
            os.dup2(ls.fileno(), 3)  # dup2 leaves fd 3 inheritable
            ls.close()
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
        say(f"launcher: listener on {addr}:{port} as fd 3, exec pid {os.getpid()}")
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), "served", n], env)
    elif mode == "served":
        n = int(args[0])
        if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
            raise SystemExit("served: LISTEN_PID/LISTEN_FDS not for this process")
        ls = socket.socket(fileno=3)
        name = ls.getsockname()
        name = f"{name[0]} {name[1]}" if isinstance(name, tuple) else f"{name!r} (not AF_INET)"
        say(f"served: fd 3 is a listener on {name}, type {ls.type!r}, pid {os.getpid()}")
        for i in range(n):
            conn, peer = ls.accept()
            say(f"served: connection {i} from {peer[0]}, {echo_until_eof(conn)} bytes echoed")
            conn.close()
    elif mode == "forkpass":
        addr, port = args[0], int(args[1])
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, port))
        ls.listen(8)
        say(f"parent: listening on {addr} {port}")
        conn, peer = ls.accept()
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            a.close()
            conn.close()  # the child's inherited copy: the one it uses comes by SCM_RIGHTS
            ls.close()
            msg, fds, _, _ = socket.recv_fds(b, 16, 1)
            if len(fds) != 1:
                os._exit(2)
            s = socket.socket(fileno=fds[0])
            say(f"child: received {msg!r} and a socket from {s.getpeername()[0]}; echoing")
            say(f"child: {echo_until_eof(s)} bytes echoed")
            s.close()
            os._exit(0)
        b.close()
        socket.send_fds(a, [b"conn"], [conn.fileno()])
        conn.close()
        say("parent: sent the connection to the child and closed its own copy")
        _, status = os.waitpid(pid, 0)
        say(f"parent: child exit {os.waitstatus_to_exitcode(status)}")
        sys.exit(os.waitstatus_to_exitcode(status))
    elif mode == "recvnamed":
        path = args[0]
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.bind(path)
        u.listen(1)
        say(f"receiver: waiting on {path} pid {os.getpid()}")
        c, _ = u.accept()
        msg, fds, _, _ = socket.recv_fds(c, 16, 1)
        if len(fds) != 1:
            raise SystemExit(f"receiver: got {len(fds)} fds")
        s = socket.socket(fileno=fds[0])
        say(f"receiver: got {msg!r}, a {s.type!r} socket connected to {s.getpeername()}")
        c.sendall(b"k")  # the sender may go now: its copy is no longer needed
        echo_check(s, CHUNK, "receiver")
        s.close()
    elif mode == "sendnamed":
        path, addr, port = args[0], args[1], int(args[2])
        s = socket.create_connection((addr, port))
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.connect(path)
        socket.send_fds(u, [b"sock"], [s.fileno()])
        s.close()
        if u.recv(1) != b"k":
            raise SystemExit("sender: no word from the receiver")
        say(f"sender: sent a socket connected to {addr}:{port} and closed its own copy")
    elif mode == "spawn":
        addr, port = args[0], int(args[1])
        s = socket.create_connection((addr, port))
        echo_check(s, 4096, "parent")
        os.set_inheritable(s.fileno(), True)
        # The child: this file's echo_check on the inherited descriptor.
        code = (f"import socket, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
                f"import passing\n"
                f"passing.echo_check(socket.socket(fileno={s.fileno()}), {CHUNK}, 'spawned')\n")
        pid = os.posix_spawn(sys.executable, [sys.executable, "-c", code], os.environ)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        say(f"parent: spawned child exit {code}")
        echo_check(s, 4096, "parent")
        sys.exit(code)
    else:
        sys.exit(f"passing.py: unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
