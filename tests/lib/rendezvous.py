#!/usr/bin/env python3
"""Talks to a shared stack's rendezvous socket directly, without netcore, as a client of
another uid or a broken or hostile one would (tests/test_share_driver.sh; the wire format is
core/share.h): rendezvous.py MODE SOCKET-PATH.

  refused  connect, then read the driver's first message: want a reply with rc -EACCES
           (exit 0), printed as "rendezvous: first reply rc N"
  noentry  want connect to fail with EACCES (the run directory is closed to this uid)
  garbage  one connection per bad message (short, empty, wrong magic, huge len, unknown op,
           random bytes, a pipe's fd, two fds, no fd, a foreign socket's fd, ...), each
           answered by an error reply or a close, never by silence for more than 5 s; then a
           good SOCKET request must still get rc 0 and a socket (exit 0)
"""
import array, errno, os, random, socket, struct, sys

MAGIC = 0x6e637301
REQ = struct.Struct("<IIHHIqqq256s")   # struct nc_share_req, 296 bytes
REP = struct.Struct("<IIqqqII256s")    # struct nc_share_rep, 296 bytes
(OP_SOCKET, OP_IDENTIFY, OP_BIND, OP_LISTEN, OP_ACCEPT, OP_CONNECT, OP_SHUTDOWN,
 OP_GETSOCKNAME, OP_GETPEERNAME, OP_SETSOCKOPT, OP_GETSOCKOPT, OP_STATUS, OP_IOCTL,
 OP_MAX) = range(1, 15)
mode, path = sys.argv[1], sys.argv[2]


def req(op, a=(0, 0, 0), data=b"", length=None, magic=MAGIC, seq=7, pad=0):
    return REQ.pack(magic, seq, op, len(data) if length is None else length, pad, *a, data)


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    s.connect(path)
    return s


def answer(s):
    """What the driver says to what was sent: a reply's rc (and fds), or closed, or silence."""
    try:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    except socket.timeout:
        return "no answer in 5 s", None
    except OSError as e:
        return f"recv: {errno.errorcode.get(e.errno, e.errno)}", None
    fds = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", data[:len(data) - len(data) % 4])
    for fd in fds:
        os.close(fd)
    if not msg:
        return "closed", None
    if len(msg) != REP.size:
        return f"a {len(msg)}-byte message", None
    magic, seq, rc, b0, b1, ln, pad, data = REP.unpack(msg)
    name = errno.errorcode.get(-rc, str(rc)) if rc < 0 else str(rc)
    return f"reply seq {seq} rc {rc} ({name}){' with %d fd(s)' % len(fds) if fds else ''}", rc


def send(s, payload, fds=()):
    if fds:
        s.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        s.send(payload)


if mode == "refused":
    try:
        s = conn()
    except OSError as e:
        sys.exit(f"rendezvous: connect: {e}")
    what, rc = answer(s)
    print(f"rendezvous: first reply rc {rc}: {what}", flush=True)
    sys.exit(0 if rc == -errno.EACCES else 1)
elif mode == "noentry":
    try:
        conn()
        print("rendezvous: connected", flush=True)
        sys.exit(1)
    except OSError as e:
        print(f"rendezvous: connect: {errno.errorcode.get(e.errno, e.errno)}", flush=True)
        sys.exit(0 if e.errno == errno.EACCES else 1)
elif mode != "garbage":
    sys.exit(f"rendezvous.py: unknown mode {mode}")

rnd = random.Random(14)
r, w = os.pipe()
foreign = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sin = struct.pack("<HH4s8x", socket.AF_INET, socket.htons(7999), socket.inet_aton("198.18.0.2"))
cases = [
    ("empty message", b"", ()),
    ("1 byte", b"\x01", ()),
    ("header only (40 bytes)", req(OP_SOCKET, (socket.AF_INET, socket.SOCK_STREAM, 0))[:40], ()),
    ("one byte short", req(OP_SOCKET, (socket.AF_INET, socket.SOCK_STREAM, 0))[:-1], ()),
    ("one byte long", req(OP_SOCKET, (socket.AF_INET, socket.SOCK_STREAM, 0)) + b"\0", ()),
    ("wrong magic", req(OP_SOCKET, (socket.AF_INET, socket.SOCK_STREAM, 0), magic=0x6e637302), ()),
    ("huge len 65535", req(OP_BIND, data=sin, length=65535), ()),
    ("len 257", req(OP_CONNECT, data=sin, length=257), ()),
    ("op 0", req(0), ()),
    ("op MAX", req(OP_MAX), ()),
    ("op 65535", req(65535), ()),
    ("pad not 0", req(OP_SOCKET, (socket.AF_INET, socket.SOCK_STREAM, 0), pad=0xffffffff), ()),
    ("SOCKET of AF_UNIX", req(OP_SOCKET, (socket.AF_UNIX, socket.SOCK_STREAM, 0)), ()),
    ("SOCKET of SOCK_RAW", req(OP_SOCKET, (socket.AF_INET, socket.SOCK_RAW, 255)), ()),
    ("SOCKET of domain -1", req(OP_SOCKET, (-1, -1, -1)), ()),
    ("IDENTIFY without an fd", req(OP_IDENTIFY), ()),
    ("BIND with a pipe's fd", req(OP_BIND, data=sin), (r,)),
    ("IDENTIFY with 2 fds", req(OP_IDENTIFY), (r, w)),
    ("LISTEN with 2 fds", req(OP_LISTEN, (-5, 0, 0)), (foreign.fileno(), r)),
    ("IDENTIFY with a foreign socket", req(OP_IDENTIFY), (foreign.fileno(),)),
    ("GETSOCKOPT of a pipe, length -1", req(OP_GETSOCKOPT, (1, 1, -1)), (w,)),
    ("SOCKET with an fd", req(OP_SOCKET, (socket.AF_INET, socket.SOCK_STREAM, 0)), (r,)),
]
for i in range(6):
    cases.append((f"random {i}", bytes(rnd.getrandbits(8) for _ in range(rnd.choice((8, 100, 296, 296, 4000)))), ()))
for i in range(4):  # random bodies behind a good magic and op
    body = bytes(rnd.getrandbits(8) for _ in range(REQ.size))
    cases.append((f"random body, op {i + 2}", struct.pack("<IIH", MAGIC, i, i + 2) + body[10:], (r,)))

bad = 0
for name, payload, fds in cases:
    try:
        s = conn()
        send(s, payload, fds)
        what, _ = answer(s)
        # The same connection again: a second request after the bad one.
        s.close()
    except OSError as e:
        what = f"{errno.errorcode.get(e.errno, e.errno)} ({e})"
        if e.errno in (errno.ECONNREFUSED, errno.ENOENT):
            bad = 1
    print(f"garbage: {name}: {what}", flush=True)
    bad |= what.startswith("no answer")

# Many bad messages on one connection, without waiting for the answers.
try:
    s = conn()
    for i in range(200):
        send(s, bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 400))))
    print(f"garbage: 200 random messages on one connection: {answer(s)[0]}", flush=True)
    s.close()
except OSError as e:
    print(f"garbage: 200 random messages on one connection: {e}", flush=True)

# The driver still answers a good request.
s = conn()
send(s, req(OP_SOCKET, (socket.AF_INET, socket.SOCK_STREAM, 0), seq=99))
what, rc = answer(s)
print(f"garbage: then a good SOCKET request: {what}", flush=True)
bad |= rc != 0 or "with 1 fd" not in what
sys.exit(bad)
