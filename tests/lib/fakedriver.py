#!/usr/bin/env python3
"""fakedriver.py RUNDIR IFNAME [--refuse|--quirks|--slow] — a stand-in for a shared stack's driver, backed by the kernel.

It takes the device's rendezvous (core/share.h: RUNDIR/stack-IFNAME-NETNS.lock held with
flock, RUNDIR/stack-IFNAME-NETNS.sock listening) and answers the control protocol with kernel
sockets: each relayed socket is a socketpair whose driver end threads pump to and from a
kernel socket of the namespace. A process started under the shim then finds a driver and
attaches as a client, so the shim's client side (preload/remote*.c) can be tested on its own,
with the kernel as the reference for what each call should answer. Prints "ready" when it
listens. Not a model of relay.c: no lwIP, a thread per direction.

--slow: every GETSOCKNAME is answered half a second late (tests/nested_rpc.c).
--refuse: every connection gets the refusal of a process of another uid (a reply of seq 0 and
-EACCES) and is closed. --quirks: before each reply, one with a wrong seq carrying an fd, and
every reply of a call that expects no fd carries one: the client must skip the first and
close every fd it did not ask for.
"""
import array
import errno
import fcntl
import os
import socket
import struct
import sys
import threading
import time

MAGIC = 0x6E637301
DATA = 256
REQ = struct.Struct("<IIHHIqqq256s")
REP = struct.Struct("<IIqqqII256s")
DGRAM = struct.Struct("<HHI16s")
LISTENING = 0x10000
(OP_SOCKET, OP_IDENTIFY, OP_BIND, OP_LISTEN, OP_ACCEPT, OP_CONNECT, OP_SHUTDOWN,
 OP_GETSOCKNAME, OP_GETPEERNAME, OP_SETSOCKOPT, OP_GETSOCKOPT, OP_STATUS, OP_IOCTL,
 OP_CHANNEL) = range(1, 15)
SIOCOUTQ = 0x5411


def sa_unpack(b):
    fam = struct.unpack_from("<H", b)[0]
    if fam == socket.AF_INET:
        port = struct.unpack_from(">H", b, 2)[0]
        return fam, (socket.inet_ntop(socket.AF_INET, b[4:8]), port)
    if fam == socket.AF_INET6:
        port, flow = struct.unpack_from(">HI", b, 2)
        scope = struct.unpack_from("<I", b, 24)[0] if len(b) >= 28 else 0
        return fam, (socket.inet_ntop(socket.AF_INET6, b[8:24]), port, flow, scope)
    return fam, None


def sa_pack(fam, a):
    if fam == socket.AF_INET:
        return struct.pack("<H", fam) + struct.pack(">H", a[1]) + \
            socket.inet_pton(socket.AF_INET, a[0]) + bytes(8)
    return struct.pack("<H", fam) + struct.pack(">HI", a[1], a[2]) + \
        socket.inet_pton(socket.AF_INET6, a[0]) + struct.pack("<I", a[3])


class Sock:
    def __init__(self, ks, family, type_):
        self.ks, self.family, self.type = ks, family, type_
        self.listening = False
        self.status = 0
        self.connecting = None  # threading.Event while a connect is under way
        self.conn_err = 0
        self.waiters = 0  # requests waiting for the outcome of a connect under way
        self.aq = []
        self.mu = threading.Lock()
        kind = socket.SOCK_STREAM if type_ == socket.SOCK_STREAM else socket.SOCK_SEQPACKET
        self.rfd, self.pfd = socket.socketpair(socket.AF_UNIX, kind)
        self.ino = os.fstat(self.pfd.fileno()).st_ino
        self.pumping = False
        self.closing = False
        self.down_done = False


socks = {}
socks_mu = threading.Lock()


def register(s):
    with socks_mu:
        socks[s.ino] = s


def pump_tcp(s):
    if s.pumping:
        return
    s.pumping = True

    def up():  # program -> kernel
        while True:
            try:
                b = s.rfd.recv(65536)
            except OSError:
                b = b""
            if not b:  # every copy of the program end closed
                # Wakes down()'s recv, which closes: a close under a blocked recv would
                # leave the connection open until that recv returned.
                with s.mu:
                    s.closing = True
                    done = s.down_done
                if done:
                    s.ks.close()
                    return
                try:
                    s.ks.shutdown(socket.SHUT_RD)
                except OSError:
                    s.ks.close()
                return
            try:
                s.ks.sendall(b)
            except OSError:
                pass

    def down():  # kernel -> program
        while True:
            try:
                b = s.ks.recv(65536)
            except OSError as e:
                s.status = e.errno
                b = b""
            with s.mu:
                closing = s.closing
                s.down_done = not b
            if closing:
                s.ks.close()
                return
            if not b:
                try:
                    s.rfd.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                s.rfd.sendall(b)
            except OSError:
                return
    threading.Thread(target=up, daemon=True).start()
    threading.Thread(target=down, daemon=True).start()


def pump_udp(s):
    if s.pumping:
        return
    s.pumping = True

    def up():
        while True:
            try:
                m = s.rfd.recv(70000)
            except OSError:
                return
            if not m:
                s.ks.close()
                return
            if len(m) < DGRAM.size:
                continue
            fam, port, scope, addr = DGRAM.unpack_from(m)
            data = m[DGRAM.size:]
            try:
                if fam == 0:
                    s.ks.send(data)
                elif fam == socket.AF_INET:
                    dst = (socket.inet_ntop(fam, addr[:4]), socket.ntohs(port))
                    if s.family == socket.AF_INET6:
                        dst = ("::ffff:" + dst[0], dst[1])
                    s.ks.sendto(data, dst)
                else:
                    s.ks.sendto(data, (socket.inet_ntop(fam, addr), socket.ntohs(port), 0, scope))
            except OSError:
                pass

    def down():
        while True:
            try:
                data, src = s.ks.recvfrom(70000)
            except OSError:
                return
            if s.family == socket.AF_INET:
                h = DGRAM.pack(socket.AF_INET, socket.htons(src[1]), 0,
                               socket.inet_pton(socket.AF_INET, src[0]) + bytes(12))
            else:
                h = DGRAM.pack(socket.AF_INET6, socket.htons(src[1]), src[3],
                               socket.inet_pton(socket.AF_INET6, src[0]))
            try:
                s.rfd.send(h + data)
            except OSError:
                return
    threading.Thread(target=up, daemon=True).start()
    threading.Thread(target=down, daemon=True).start()


def token(s):
    with s.mu:
        if s.aq:
            q = array.array("i", [0])
            fcntl.ioctl(s.rfd.fileno(), SIOCOUTQ, q)
            if q[0] == 0:
                s.rfd.send(b"t")


def acceptor(s):
    def watch():  # the program never writes to a listener: EOF is its last close
        while True:
            try:
                if not s.rfd.recv(16):
                    break
            except OSError:
                break
        s.ks.shutdown(socket.SHUT_RDWR)
        s.ks.close()
    threading.Thread(target=watch, daemon=True).start()
    while True:
        try:
            c, a = s.ks.accept()
        except OSError:
            return
        with s.mu:
            s.aq.append((c, a))
        token(s)


def info(s):
    return s.family, s.type | (LISTENING if s.listening else 0)


def handle(op, a, data, fd):
    """Returns rc, b, data, fd_to_send."""
    if op == OP_SOCKET:
        ks = socket.socket(a[0], a[1], a[2])
        s = Sock(ks, a[0], a[1])
        register(s)
        if s.type == socket.SOCK_DGRAM:
            pump_udp(s)
        return 0, info(s), b"", s.pfd
    if op == OP_CHANNEL:  # a new connection, served as one accepted from the rendezvous
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        threading.Thread(target=serve, args=(mine,), daemon=True).start()
        return 0, (0, 0), b"", theirs
    if fd is None:
        return -errno.EBADF, (0, 0), b"", None
    ino = os.fstat(fd).st_ino
    with socks_mu:
        s = socks.get(ino)
    if s is None:
        return -errno.EBADF, (0, 0), b"", None
    try:
        if op == OP_IDENTIFY:
            return 0, info(s), b"", None
        if op == OP_BIND:
            fam, addr = sa_unpack(data)
            s.ks.bind(addr)
            return 0, (0, 0), b"", None
        if op == OP_LISTEN:
            s.ks.listen(a[0])
            if not s.listening:
                s.listening = True
                threading.Thread(target=acceptor, args=(s,), daemon=True).start()
            return 0, (0, 0), b"", None
        if op == OP_ACCEPT:
            if not s.listening:
                return -errno.EINVAL, (0, 0), b"", None
            with s.mu:
                c, peer = s.aq.pop(0) if s.aq else (None, None)
            token(s)
            if c is None:
                return -errno.EAGAIN, (0, 0), b"", None
            n = Sock(c, s.family, socket.SOCK_STREAM)
            register(n)
            pump_tcp(n)
            return 0, info(n), sa_pack(s.family, peer), n.pfd
        if op == OP_CONNECT:
            if a[0] == 2:  # the status now: EALREADY while under way, else the outcome
                if s.connecting is None:
                    return 0, (0, 0), b"", None
                if not s.connecting.is_set():
                    return -errno.EALREADY, (0, 0), b"", None
                s.connecting = None
                e, s.conn_err = s.conn_err, 0
                return -e, (0, 0), b"", None
            if len(data) == 0:
                if s.connecting is not None and a[0] == 1:
                    with s.mu:
                        s.waiters += 1
                    s.connecting.wait()
                    with s.mu:
                        s.waiters -= 1
                        e, s.conn_err = s.conn_err, 0
                    return -e, (0, 0), b"", None
                return 0, (0, 0), b"", None
            fam, addr = sa_unpack(data)
            if s.type == socket.SOCK_DGRAM:
                if fam == socket.AF_UNSPEC:
                    s.ks.connect(("0.0.0.0", 0))  # approximate
                else:
                    s.ks.connect(addr)
                return 0, (0, 0), b"", None
            if s.connecting is not None:
                return -errno.EALREADY, (0, 0), b"", None
            ev = threading.Event()
            s.connecting = ev

            def go():
                e = s.ks.connect_ex(addr)
                s.conn_err = e
                ev.set()
                if e == 0:
                    pump_tcp(s)
            if a[0] == 1:
                go()
                s.connecting = None
                # A wait that came since (a poll after SO_SNDTIMEO gave this one up) reports
                # the outcome, as the stack's SO_ERROR keeps it for the next who asks.
                with s.mu:
                    e = s.conn_err
                    if s.waiters == 0:
                        s.conn_err = 0
                return -e, (0, 0), b"", None
            threading.Thread(target=go, daemon=True).start()
            return -errno.EINPROGRESS, (0, 0), b"", None
        if op == OP_SHUTDOWN:
            s.ks.shutdown(a[0])
            return 0, (0, 0), b"", None
        if op == OP_GETSOCKNAME:
            if MODE == "--slow":
                time.sleep(0.5)
            return 0, (0, 0), sa_pack(s.family, s.ks.getsockname()), None
        if op == OP_GETPEERNAME:
            return 0, (0, 0), sa_pack(s.family, s.ks.getpeername()), None
        if op == OP_SETSOCKOPT:
            s.ks.setsockopt(a[0], a[1], data)
            return 0, (0, 0), b"", None
        if op == OP_GETSOCKOPT:
            return 0, (0, 0), s.ks.getsockopt(a[0], a[1], a[2]), None
        if op == OP_STATUS:
            e, s.status = s.status, 0
            return -e, (0, 0), b"", None
        if op == OP_IOCTL:
            return 0, (0, 0), b"", None
    except OSError as e:
        return -e.errno, (0, 0), b"", None
    return -errno.EINVAL, (0, 0), b"", None


MODE = sys.argv[3] if len(sys.argv) > 3 else ""


def junk_fd():
    r, w = os.pipe()
    os.close(w)
    return r


def serve(c):
    if MODE == "--refuse":
        c.sendmsg([REP.pack(MAGIC, 0, -errno.EACCES, 0, 0, 0, 0, bytes(DATA))])
        c.close()
        return
    while True:
        try:
            msg, anc, flags, _ = c.recvmsg(REQ.size, socket.CMSG_SPACE(16))
        except OSError:
            return
        if not msg:
            return
        fds = []
        for lvl, typ, d in anc:
            if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds += list(array.array("i", d[:len(d) - len(d) % 4]))
        magic, seq, op, ln, pad, a0, a1, a2, data = REQ.unpack(msg.ljust(REQ.size, b"\0"))
        if magic != MAGIC or ln > DATA:
            rc, b, out, ofd = -errno.EINVAL, (0, 0), b"", None
        else:
            rc, b, out, ofd = handle(op, (a0, a1, a2), data[:ln], fds[0] if fds else None)
        for f in fds:
            os.close(f)
        rep = REP.pack(MAGIC, seq, rc, b[0], b[1], len(out), 0, out.ljust(DATA, b"\0"))
        fdl = [ofd.fileno()] if ofd is not None else []
        junk = []
        if MODE == "--quirks":
            junk = [junk_fd(), junk_fd()]
            bad = REP.pack(MAGIC, seq + 1000, 0, 0, 0, 0, 0, bytes(DATA))
            c.sendmsg([bad], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                               array.array("i", [junk[0]]))])
            if ofd is None:
                fdl = [junk[1]]
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fdl))] if fdl else []
        try:
            c.sendmsg([rep], anc)
        except OSError:
            return
        for f in junk:
            os.close(f)
        if op in (OP_SOCKET, OP_ACCEPT, OP_CHANNEL) and ofd is not None:
            ofd.close()  # the program's end is the program's now


def main():
    rundir, ifname = sys.argv[1], sys.argv[2]
    os.makedirs(rundir, mode=0o700, exist_ok=True)
    ino = os.stat("/proc/self/ns/net").st_ino
    base = os.path.join(rundir, "stack-%s-%d" % (ifname, ino))
    lk = open(base + ".lock", "w")
    fcntl.flock(lk, fcntl.LOCK_EX)
    try:
        os.unlink(base + ".sock")
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ls.bind(base + ".sock")
    ls.listen(64)
    print("ready", flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


main()
