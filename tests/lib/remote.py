#!/usr/bin/env python3
"""remote.py IP PORT MODE — the calls of a process attached to a stack it does not drive
(preload/remote*.c), run by tests/test_remote.sh under the shim against tests/lib/fakedriver.py,
whose sockets are the kernel's: each answer is checked against what the kernel gives. IP is an
address of the namespace's kernel, PORT the first of a few ports. MODE: "calls" (the socket
calls, TCP and UDP, fork), "quirks" (many calls against a driver that sends stale replies and
unasked-for fds: no fd may be left open), "identify" (a relayed socket across exec, known
again after NC_OP_IDENTIFY), "drop" (as root: new threads after setuid(nobody)),
"gone FAKEDRIVER RUNDIR IFNAME" (starts a driver, attaches, kills the driver: ENETDOWN).
Prints "ok: ..." lines; exits 1 at the first answer that is wrong.
"""
import errno
import fcntl
import os
import select
import socket
import struct
import sys
import termios
import time

IP, PORT, MODE = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


def err(f):
    """The errno name f raises, or its value."""
    try:
        return f()
    except OSError as e:
        return errno.errorcode.get(e.errno, type(e).__name__)


def want(what, got, expect):
    if got != expect:
        fail("%s: got %r, want %r" % (what, got, expect))
    print("ok: %s: %r" % (what, got), flush=True)


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((IP, port))
    s.listen(8)
    return s


def calls():
    srv = listener(PORT)
    want("getsockname of a listener", srv.getsockname(), (IP, PORT))
    want("SO_ACCEPTCONN", srv.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), 1)
    want("SO_TYPE", srv.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE), socket.SOCK_STREAM)
    want("read on a listener", err(lambda: os.read(srv.fileno(), 1)), "ENOTCONN")
    c = socket.create_connection((IP, PORT))
    a, peer = srv.accept()
    want("accept's peer is the connecting socket", peer, c.getsockname())
    want("getpeername", c.getpeername(), (IP, PORT))
    c.sendall(b"hello")
    want("recv", a.recv(100), b"hello")
    big = os.urandom(1 << 20)
    a.sendall(big)
    got = b""
    while len(got) < len(big):
        got += c.recv(1 << 16)
    want("1 MiB intact", got == big, True)
    a.send(b"abc")
    select.select([c], [], [], 5)
    buf = bytearray(4)
    fcntl.ioctl(c.fileno(), termios.FIONREAD, buf)
    want("FIONREAD", struct.unpack("i", buf)[0], 3)
    want("MSG_PEEK", c.recv(3, socket.MSG_PEEK), b"abc")
    want("recv after peek", c.recv(3), b"abc")
    c.shutdown(socket.SHUT_WR)
    want("end of stream after shutdown(SHUT_WR)", a.recv(10), b"")
    want("send after shutdown(SHUT_WR)", err(lambda: c.send(b"x", socket.MSG_NOSIGNAL)), "EPIPE")
    # a reset: the next read says ECONNRESET, the one after it 0, as the kernel's
    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    a.close()
    select.select([c], [], [], 5)
    want("recv after a reset", err(lambda: c.recv(10)), "ECONNRESET")
    want("recv after that", c.recv(10), b"")
    c.close()

    r = socket.socket()
    want("blocking connect refused", err(lambda: r.connect((IP, 1))), "ECONNREFUSED")
    n = socket.socket()
    n.setblocking(False)
    want("non-blocking connect", err(lambda: n.connect((IP, PORT))), "EINPROGRESS")
    select.select([], [n], [], 5)
    want("SO_ERROR of a connect that worked",
         n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), 0)
    a, _ = srv.accept()
    n2 = socket.socket()
    n2.setblocking(False)
    n2.connect_ex((IP, 1))
    select.select([], [n2], [], 5)
    want("SO_ERROR of a refused connect",
         errno.errorcode.get(n2.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)), "ECONNREFUSED")
    want("SO_ERROR once", n2.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), 0)
    u = socket.socket()
    want("recv on an unconnected socket", err(lambda: u.recv(1)), "ENOTCONN")
    want("send on an unconnected socket", err(lambda: u.send(b"x")), "EPIPE")

    srv.setblocking(False)
    want("accept, none queued, non-blocking", err(lambda: srv.accept()), "EAGAIN")
    srv.setblocking(True)
    srv.settimeout(0.2)
    want("accept with SO_RCVTIMEO", err(lambda: srv.accept()), "TimeoutError")
    srv.settimeout(None)
    fd = os.dup(srv.fileno())
    os.close(fd)
    c3 = socket.create_connection((IP, PORT))
    want("accept after a dup closed", srv.accept()[1], c3.getsockname())

    # fork: the child takes the next connection on the inherited listener; another child
    # opens a socket of its own
    pid = os.fork()
    if pid == 0:
        s, _ = srv.accept()
        s.sendall(b"child accepted")
        os._exit(0)
    c4 = socket.create_connection((IP, PORT))
    want("a forked child accepts on the parent's listener", c4.recv(100), b"child accepted")
    os.waitpid(pid, 0)
    pid = os.fork()
    if pid == 0:
        x = socket.create_connection((IP, PORT))
        x.sendall(b"child socket")
        x.close()
        os._exit(0)
    s5, _ = srv.accept()
    want("a forked child's own socket", s5.recv(100), b"child socket")
    os.waitpid(pid, 0)

    n.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    want("TCP_NODELAY through the driver",
         n.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0, True)
    n.setblocking(True)
    n.settimeout(0.2)
    want("recv with SO_RCVTIMEO", err(lambda: n.recv(1)), "TimeoutError")

    # loopback: handed to the kernel under the same fd number
    lo = socket.socket()
    fd = lo.fileno()
    lo.bind(("127.0.0.1", 0))
    lo.listen(1)
    lc = socket.create_connection(lo.getsockname())
    want("a loopback listener is the kernel's, same fd", (lo.accept()[1], lo.fileno()),
         (lc.getsockname(), fd))

    # UDP
    u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u1.bind((IP, PORT + 1))
    u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    want("send without an address", err(lambda: u2.send(b"x")), "EDESTADDRREQ")
    u2.sendto(b"one", (IP, PORT + 1))
    d, src = u1.recvfrom(100)
    want("a datagram and its source", (d, src[0]), (b"one", IP))
    u1.sendto(b"back", src)
    want("the reply", u2.recvfrom(100), (b"back", (IP, PORT + 1)))
    u2.connect((IP, PORT + 1))
    u2.send(b"truncated")
    m = u1.recvmsg(4)
    want("recvmsg truncating", (m[0], m[2] & socket.MSG_TRUNC != 0), (b"trun", True))
    u2.send(b"")
    want("an empty datagram", u1.recvfrom(10)[0], b"")
    want("a datagram too large for IPv4", err(lambda: u2.send(bytes(65508))), "EMSGSIZE")
    u2.send(bytes(65507))
    want("the largest datagram", len(u1.recv(70000)), 65507)
    u2.sendmsg([b"v"] * 1024)
    bufs = [bytearray(1) for _ in range(1024)]
    want("1024 vector entries each way", (u1.recvmsg_into(bufs)[0], bytes(bufs[1023])),
         (1024, b"v"))
    u2.send(b"12345")
    select.select([u1], [], [], 5)
    buf = bytearray(4)
    fcntl.ioctl(u1.fileno(), termios.FIONREAD, buf)
    want("FIONREAD of a datagram", struct.unpack("i", buf)[0], 5)
    want("SO_TYPE of UDP", u1.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE), socket.SOCK_DGRAM)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def quirks():
    srv = listener(PORT + 2)
    base = open_fds()
    for _ in range(20):
        c = socket.create_connection((IP, PORT + 2))
        a, _ = srv.accept()
        c.getsockname()
        c.getpeername()
        c.close()
        a.close()
    want("fds left open after 20 rounds against stale replies and stray fds",
         open_fds() - base, 0)


def gone(fake, rundir, ifname):
    """Starts the driver itself (on the kernel: no shim in its environment), so that it can
    kill it and wait for it to be gone."""
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    d = subprocess.Popen([sys.executable, fake, rundir, ifname], env=env,
                         stdout=subprocess.PIPE, text=True)
    want("driver ready", d.stdout.readline().strip(), "ready")
    s = socket.socket()  # attaches
    d.kill()
    d.wait()
    want("bind with the driver gone", err(lambda: s.bind((IP, PORT + 3))), "ENETDOWN")
    want("socket() with the driver gone", err(lambda: socket.socket()), "ENETDOWN")


def drop():
    """setuid to nobody, then a socket in a new thread: its control connection cannot be
    opened any more (the run directory is root's), the one kept before the drop serves."""
    import threading
    os.setuid(65534)
    srv = listener(PORT + 4)
    got = []

    def t():
        got.append(err(lambda: socket.create_connection((IP, PORT + 4)).getsockname()))
    th = threading.Thread(target=t)
    th.start()
    th.join()
    want("a new thread's connect after setuid(nobody)", srv.accept()[1], got[0])


def identify():
    """An exec'd image inherits a relayed socket: the shim knows it again after asking the
    driver (nc__remote_identify, which exec's own conversion will call; here through ctypes),
    and a pipe, a plain socketpair end and a kernel socket are not taken for one."""
    import ctypes
    import subprocess
    srv = listener(PORT + 5)
    c = socket.create_connection((IP, PORT + 5))
    a, _ = srv.accept()
    os.set_inheritable(c.fileno(), True)
    code = """
import ctypes, os, socket, sys
fd = int(sys.argv[1])
ident = ctypes.CDLL(None).nc__remote_identify
r, w = os.pipe()
p, q = socket.socketpair()
k = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
print([ident(x) for x in (r, p.fileno(), k.fileno())], ident(fd))
s = socket.socket(fileno=fd)
print(s.getpeername()[1], s.recv(5).decode())
"""
    a.send(b"hello")
    out = subprocess.run([sys.executable, "-c", code, str(c.fileno())], pass_fds=(c.fileno(),),
                         capture_output=True, text=True, timeout=20)
    ebadf = -errno.EBADF
    want("identify after exec", out.stdout.split("\n")[:2],
         ["[%d, %d, %d] 0" % (ebadf, ebadf, ebadf), "%d hello" % (PORT + 5)])


if MODE == "calls":
    calls()
elif MODE == "quirks":
    quirks()
elif MODE == "identify":
    identify()
elif MODE == "drop":
    drop()
elif MODE == "gone":
    gone(sys.argv[4], sys.argv[5], sys.argv[6])
print("PASS", flush=True)
